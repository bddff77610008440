"""The Inception-ResNet-V2 recipe: 3 chosen stains, early stopping on validation loss, per-label accuracy.

The end-to-end run is the recipe at a tiny size (75 px, a 1/16-width network,
64 synthetic samples, 1 epoch): it shows the recipe runs, nothing about the
paper's figures.
"""

import numpy as np
import pandas as pd
import pytest
from tiny_runs import TINY_LENET, fine_tuning_fixtures, kaggle_test_folder

import minidl as md
from hpa import evaluate, predict, train
from hpa.evaluation.metrics import hamming_accuracy
from hpa.evaluation.report import summarise, write_report
from hpa.models import build_model
from hpa.models.checkpoint import load_checkpoint
from hpa.models.stains import parse_stains
from hpa.runtime import cli
from hpa.runtime.errors import HpaError
from hpa.training.fine_tuning import stain_statistics
from hpa.training.network import load_init

NARROW = {"width": 0.0625}


data, imported = fine_tuning_fixtures("inception_resnet_v2", 75, NARROW, "irv2.pth")


def test_recipe_runs_end_to_end_on_three_stains_and_inference_uses_them(data, imported, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["--recipe", "inception-resnet-v2-rgb", "--init", f"imagenet:{imported}", "--image-size", "75",
            "--epochs", "1", "--model-option", "width=0.0625", "--data", str(data),
            "--cache-dir", str(tmp_path / "cache"), "--out", str(out)]
    assert cli.run(train.main, argv) == 0
    printed = capsys.readouterr().out
    state, meta, _ = load_checkpoint(out / "best.npz")
    assert meta["stains"] == ["red", "green", "blue"] and meta["config"]["early_stopping_on"] == "val-loss"
    assert meta["config"]["val_fraction"] == 0.2 and meta["config"]["loss"] == "bce"
    assert state["conv2d_1a.conv.weight"].shape == (2, 3, 3, 3)
    metrics = pd.read_csv(out / "metrics.csv")
    assert len(metrics) == 1 and metrics["val_label_accuracy"].between(0, 1).all()
    report = (out / "report.txt").read_text()
    assert "per-label accuracy at threshold 0.5:" in report and "label acc" in printed
    print(f"tiny recipe run: {metrics.to_string(index=False)}\n{report[:600]}")  # figures for the closing note

    assert cli.run(evaluate.main, ["--checkpoint", str(out / "best.npz"), "--data", str(data), "--cam", "2",
                                   "--out", str(tmp_path / "eval"), "--cache-dir", str(tmp_path / "cache")]) == 0
    assert (tmp_path / "eval" / "class_activation_maps.png").stat().st_size > 1000
    test_dir = tmp_path / "test"  # training images stand in for a test folder
    ids = kaggle_test_folder(data, test_dir, 6)
    assert cli.run(predict.main, ["--checkpoint", str(out / "best.npz"), "--data", str(test_dir),
                                  "--out", str(tmp_path / "sub.csv"), "--cache-dir", str(tmp_path / "cache")]) == 0
    assert list(pd.read_csv(tmp_path / "sub.csv")["Id"]) == list(ids)


@pytest.mark.parametrize("stains", [["red", "green", "blue"], ["green", "yellow"], None])
def test_imported_first_conv_keeps_the_filters_of_the_chosen_stains(imported, stains):
    state, _, _ = load_checkpoint(imported)
    model = build_model("inception_resnet_v2", image_size=75, stains=stains, **NARROW)
    load_init(model, f"imagenet:{imported}", "inception_resnet_v2")
    channels = [["red", "green", "blue", "yellow"].index(s) for s in stains or ["red", "green", "blue", "yellow"]]
    np.testing.assert_array_equal(model.state_dict()["conv2d_1a.conv.weight"],
                                  state["conv2d_1a.conv.weight"][:, channels])


def test_a_stain_subset_network_reads_only_its_stains_and_sends_gradients_back_to_them():
    md.manual_seed(0)
    model = build_model("inception_resnet_v2", image_size=75, stains="green,blue", **NARROW).eval()
    x = np.random.default_rng(0).standard_normal((2, 4, 75, 75))
    model.astype(np.float64)
    y = model(x)
    changed = x.copy()
    changed[:, [0, 3]] += 1.0  # red and yellow are not read
    np.testing.assert_array_equal(model(changed), y)
    model(x)
    dx = model.backward(np.ones_like(y))
    assert dx.shape == x.shape and not dx[:, [0, 3]].any() and dx[:, 1].any() and dx[:, 2].any()
    assert list(model.state_dict())[0] == "conv2d_1a.conv.weight"
    assert model.features(x).shape == (2, 96, 1, 1)


@pytest.mark.parametrize("value", ["red,purple", "red,red", "", ["blue", 3]])
def test_bad_stains_are_refused(value):
    with pytest.raises(HpaError, match="--stains"):
        parse_stains(value)


def test_bad_stains_option_is_a_one_line_error(tmp_path, capsys):
    code = cli.run(train.main, [*TINY_LENET, "--stains", "red,cyan", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: --stains 'red,cyan'") and err.count("\n") == 1


def test_early_stopping_on_validation_loss_keeps_the_lowest_loss_epoch(data, tmp_path):
    """best.npz is the epoch of the lowest validation loss, and the run stops `patience` epochs after it."""
    out, patience = tmp_path / "run", 1
    argv = [*TINY_LENET[:-2], "--early-stopping", str(patience), "--early-stopping-on", "val-loss", "--epochs", "6",
            "--lr", "0.05", "--data", str(data), "--cache-dir", str(tmp_path / "cache"), "--out", str(out)]
    assert cli.run(train.main, argv) == 0
    losses = list(pd.read_csv(out / "metrics.csv")["val_loss"])
    best = int(np.argmin(losses))
    _, _, train_state = load_checkpoint(out / "best.npz")
    assert train_state["epoch"] == best
    stops = [e for e in range(len(losses)) if e - int(np.argmin(losses[:e + 1])) >= patience]
    assert len(losses) == (stops[0] + 1 if stops else 6)


def test_per_label_accuracy_is_reported_next_to_macro_f1(tmp_path):
    y = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
    probs = np.array([[0.9, 0.6, 0.1, 0.2], [0.2, 0.7, 0.1, 0.1], [0.1, 0.1, 0.2, 0.3]])
    assert summarise(probs, y)["label_accuracy"] == pytest.approx(10 / 12)
    assert hamming_accuracy(y, probs >= 0.5) == pytest.approx(10 / 12)
    summary = write_report(tmp_path, probs, y, log=lambda *_: None)
    assert summary["label_accuracy_0.5"] == pytest.approx(10 / 12)
    assert summary["label_accuracy_all_no"] == pytest.approx(9 / 12)
    assert "per-label accuracy at threshold 0.5: 0.8333" in (tmp_path / "report.txt").read_text()


def test_inception_normalisation_scales_rgb_to_minus_one_one_and_keeps_yellow():
    mean, std = stain_statistics([10, 20, 30, 40], [5, 6, 7, 8], "inception")
    np.testing.assert_allclose(mean, [127.5, 127.5, 127.5, 40])
    np.testing.assert_allclose(std, [127.5, 127.5, 127.5, 8])


def test_early_stopping_takes_the_first_epoch_whatever_its_loss():
    from hpa.training.trainer import EarlyStopping
    stopper = EarlyStopping(1)
    assert stopper.update(-3.5, 0)  # a validation loss of 3.5 (weighted or focal losses exceed 1)
    assert not stopper.update(-3.6, 1) and stopper.should_stop and stopper.best_epoch == 0


@pytest.mark.parametrize("name, stains", [("inception-resnet-v2-rgb", "red,green,blue"),
                                          ("inception-resnet-v2-four-stains", None)])
def test_inception_recipes_hold_the_papers_setup(name, stains, tmp_path):
    import dataclasses

    from hpa.training import recipes
    weights = tmp_path / "weights.npz"
    weights.write_bytes(b"")
    config = recipes.resolve(name)
    dataclasses.replace(config, init=f"imagenet:{weights}").check()
    assert (config.model, config.stains, config.image_size, config.batch_size, config.epochs) == \
        ("inception_resnet_v2", stains, 299, 16, 150)
    assert (config.optimizer, config.lr, config.loss, config.early_stopping_on, config.val_fraction) == \
        ("adam", 1e-3, "bce", "val-loss", 0.2)
    assert config.init == "imagenet:inception_resnet_v2-hpa.npz" and name in recipes.recipe_list()

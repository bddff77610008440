"""Fine-tuning imported ImageNet weights: --init imagenet:FILE, the two-stage schedule, ImageNet statistics."""
import dataclasses

import numpy as np
import pandas as pd
import pytest
from tiny_runs import fine_tuning_fixtures

from hpa import train
from hpa.models import build_model
from hpa.models.checkpoint import load_checkpoint
from hpa.runtime import cli
from hpa.training.config import TrainConfig
from hpa.training.fine_tuning import IMAGENET_MEAN, enter_stage, param_groups, stain_statistics
from minidl.optim import Adam

SMALL = {"widths": [2, 3, 4, 5]}
TINY = ["--model", "resnet50", "--image-size", "32", "--batch-size", "16", "--val-fraction", "0.25",
        "--model-option", "widths=[2,3,4,5]", "--early-stopping", "0", "--lr", "0.01"]


data, imported = fine_tuning_fixtures("resnet50", 32, SMALL, "resnet50.pth")


def run_train(args, tmp_path, data):
    return cli.run(train.main, [*TINY, "--data", str(data), "--cache-dir", str(tmp_path / "cache"), *args])


def features_of(state):
    return {k: v for k, v in state.items() if not k.startswith("fc.")}


@pytest.mark.slow
def test_two_stages_train_the_head_then_everything_and_resume_exactly(data, imported, tmp_path):
    start, _, _ = load_checkpoint(imported)
    one, two = tmp_path / "one", tmp_path / "two"
    stages = ["--init", f"imagenet:{imported}", "--head-epochs", "1", "--unfrozen-lr", "0.002",
              "--backbone-lr", "0.0005", "--schedule", "none"]
    assert run_train([*stages, "--epochs", "1", "--out", str(one)], tmp_path, data) == 0
    after_head, _, _ = load_checkpoint(one / "last.npz")
    for key, value in features_of(start).items():  # stage 1: features and their statistics untouched
        np.testing.assert_array_equal(after_head[key], value, err_msg=key)
    assert not np.array_equal(after_head["fc.weight"], start["fc.weight"])

    assert run_train([*stages, "--epochs", "2", "--out", str(two)], tmp_path, data) == 0
    both, _, state = load_checkpoint(two / "last.npz")
    assert not np.array_equal(both["layer1.0.conv1.weight"], start["layer1.0.conv1.weight"])
    assert [g["lr"] for g in state["optimizer"]["param_groups"]] == [0.0005, 0.002]
    assert list(pd.read_csv(two / "metrics.csv")["lr"]) == [0.01, 0.002]

    # Stopped after the head-only epoch and resumed into the second stage: the same weights.
    assert run_train([*stages, "--epochs", "2", "--resume", str(one / "last.npz")], tmp_path, data) == 0
    resumed, _, _ = load_checkpoint(one / "last.npz")
    for key in both:
        np.testing.assert_array_equal(resumed[key], both[key], err_msg=key)


@pytest.mark.slow
def test_imagenet_normalisation_is_stored_with_the_run(data, imported, tmp_path):
    out = tmp_path / "run"
    assert run_train(["--init", f"imagenet:{imported}", "--epochs", "1", "--normalize", "imagenet",
                      "--out", str(out)], tmp_path, data) == 0
    _, meta, _ = load_checkpoint(out / "best.npz")
    np.testing.assert_allclose(meta["mean"][:3], np.multiply(IMAGENET_MEAN, 255), rtol=1e-6)
    assert meta["config"]["normalize"] == "imagenet"


def test_normalisation_keeps_the_yellow_stains_own_statistics():
    mean, std = stain_statistics([10, 20, 30, 40], [5, 6, 7, 8], "imagenet")
    np.testing.assert_allclose(mean, [123.675, 116.28, 103.53, 40], rtol=1e-6)
    np.testing.assert_allclose(std[3], 8)
    np.testing.assert_array_equal(stain_statistics([1, 2, 3, 4], [1, 1, 1, 1], "dataset")[0], [1, 2, 3, 4])


def test_stages_set_frozen_parts_and_group_rates():
    model = build_model("resnet18", image_size=32, widths=(2, 2, 2, 2))
    optimizer = Adam(param_groups(model), lr=1.0)
    config = TrainConfig.for_model("resnet18", lr=0.1, head_epochs=2, backbone_lr=0.001, init="x")
    enter_stage(model, optimizer, config, 1)
    assert model.features_frozen and optimizer.param_groups[1]["lr"] == 0.1
    enter_stage(model, optimizer, config, 2)
    assert not model.features_frozen
    assert [g["lr"] for g in optimizer.param_groups] == [0.001, pytest.approx(0.01)]  # finetune: lr / 10
    assert all(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("args, message", [
    (["--head-epochs", "1"], "--head-epochs needs --init"),
    (["--head-epochs", "4", "--epochs", "3", "--init", "imagenet:IMPORTED"], "--head-epochs must be between"),
    (["--init", "imagenet:/no/such.npz"], "/no/such.npz: checkpoint does not exist"),
    (["--init", "IMPORTED"], "write --init imagenet:"),
    (["--head-epochs", "-1"], "--head-epochs must be between"),
])
def test_bad_fine_tuning_options_are_one_line_errors(data, imported, tmp_path, capsys, args, message):
    args = [a.replace("IMPORTED", str(imported)) for a in args]
    assert run_train(args, tmp_path, data) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err


def test_config_refuses_non_positive_rates_and_unknown_normalisations():
    from hpa.runtime.errors import HpaError
    for values, message in ((dict(unfrozen_lr=0.0), "--unfrozen-lr"), (dict(backbone_lr=-1.0), "--backbone-lr"),
                            (dict(normalize="coco"), "--normalize 'coco'")):
        with pytest.raises(HpaError, match=message):
            TrainConfig.for_model("resnet50", **values).check()


def test_a_training_checkpoint_is_not_an_imagenet_import(data, imported, tmp_path, capsys):
    out = tmp_path / "plain"
    assert run_train(["--epochs", "1", "--out", str(out)], tmp_path, data) == 0
    capsys.readouterr()
    assert run_train(["--init", f"imagenet:{out / 'best.npz'}"], tmp_path, data) == 2
    assert "not an hpa.import_weights file" in capsys.readouterr().err


def test_pretrained_recipes_are_registered_and_valid(tmp_path):
    from hpa.training import recipes
    weights = tmp_path / "weights.npz"
    weights.write_bytes(b"")
    names = ["densenet161-inv-log", "densenet161-ratio", "densenet161-sqrt-ratio", "resnet50-four-stains"]
    for name in names:
        recipe = recipes.all_recipes()[name]
        assert recipe.doc and recipe.settings["init"].startswith("imagenet:"), name
        config = recipes.resolve(name)
        dataclasses.replace(config, init=f"imagenet:{weights}").check()  # every field exists and is valid
        assert name in recipes.recipe_list()

"""End to end: train, resume, evaluate and predict through the real commands.

A tiny synthetic data set (the same generator and Kaggle-layout reader the
default run uses) keeps this to seconds; the checks are on what the user
gets: files, figures in the logs, exact resumption, a valid submission, and
one-line errors with a non-zero exit code.
"""
import contextlib
import io
import json

import numpy as np
import pandas as pd
import pytest
from tiny_runs import TINY_LENET_OPTIONS, kaggle_test_folder

from hpa import evaluate, predict, train, train_gapnet, train_parallel_lenet
from hpa.data.cache.source import cached_images
from hpa.evaluation.inference import load_models, predict_probs
from hpa.models import build_model
from hpa.models.checkpoint import load_checkpoint, save_checkpoint
from hpa.predict import submission_frame
from hpa.runtime import cli

TINY = ["--val-fraction", "0.25", *TINY_LENET_OPTIONS]


@pytest.fixture(scope="module")
def data(tiny_synthetic):
    return tiny_synthetic


def run_train(args, tmp_path):
    return cli.run(train.main, ["--model", "parallel_lenet", "--cache-dir", str(tmp_path / "cache"),
                                *TINY, *args])


def metrics_lines(folder):
    return (folder / "metrics.csv").read_bytes().splitlines()


# The learning rate halves every epoch: a resumed run that forgot the schedule's
# state would restart its count and train epoch 3 at 5e-4 instead of 2.5e-4.
STEP_EVERY_EPOCH = ["--schedule", "step", "--step-size", "1", "--gamma", "0.5", "--early-stopping", "0"]


def test_train_writes_everything_and_resumes_exactly(data, tmp_path, capsys):
    straight = tmp_path / "straight"
    assert run_train(["--data", str(data), "--epochs", "3", "--out", str(straight), *STEP_EVERY_EPOCH],
                     tmp_path) == 0
    out = capsys.readouterr().out
    assert "val macro F1" in out and "a constant predictor scores" in out
    for name in ("best.npz", "last.npz", "metrics.csv", "thresholds.json", "report.txt",
                 "training_curves.png", "per_class_f1.png", "f1_vs_threshold.png", "summary.json"):
        assert (straight / name).is_file(), name
    log = pd.read_csv(straight / "metrics.csv")
    assert list(log["epoch"]) == [1, 2, 3]
    assert list(log["lr"]) == pytest.approx([1e-3, 5e-4, 2.5e-4])

    # One epoch, then --resume for the other two: the same weights, bit for bit.
    split = tmp_path / "split"
    assert run_train(["--data", str(data), "--epochs", "1", "--out", str(split), *STEP_EVERY_EPOCH],
                     tmp_path) == 0
    first_epoch = metrics_lines(split)
    assert len(first_epoch) == 2  # header, epoch 1
    capsys.readouterr()
    assert run_train(["--data", str(data), "--epochs", "3", "--resume", str(split / "last.npz"),
                      *STEP_EVERY_EPOCH], tmp_path) == 0
    # The checkpoint was used: the resumed process says where it starts, and it did not
    # train epoch 1 again (its row, timings included, is the first process's, byte for byte).
    assert f"resuming from {split / 'last.npz'} at epoch 2" in capsys.readouterr().out
    resumed_lines = metrics_lines(split)
    assert resumed_lines[:2] == first_epoch and len(resumed_lines) == 4
    resumed = pd.read_csv(split / "metrics.csv")
    same = ["epoch", "lr", "train_loss", "val_loss", "val_macro_f1", "val_precision", "val_recall"]
    pd.testing.assert_frame_equal(resumed[same], log[same])
    a, _, _ = load_checkpoint(straight / "last.npz")
    b, _, _ = load_checkpoint(split / "last.npz")
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


# A rate small enough that validation macro F1 soon stops improving: the plateau
# schedule halves the rate after 2 epochs without a new best (patience 1), and
# early stopping ends the run after 3.
PLATEAU = ["--lr", "1e-5", "--schedule", "plateau", "--plateau-patience", "1", "--gamma", "0.5",
           "--early-stopping", "3", "--epochs", "8"]


@pytest.fixture(scope="module")
def plateau_run(data, tmp_path_factory):
    """A run through a plateau to early stopping: (folder, metrics, best epoch (1-based))."""
    tmp = tmp_path_factory.mktemp("plateau")
    with contextlib.redirect_stdout(io.StringIO()):
        assert run_train(["--data", str(data), "--out", str(tmp / "run"), *PLATEAU], tmp) == 0
    log = pd.read_csv(tmp / "run" / "metrics.csv")
    best = int(log["epoch"][log["val_macro_f1"].idxmax()])  # the first of equal maxima
    return tmp / "run", log, best


def test_early_stopping_stops_after_the_patience_and_keeps_the_best(plateau_run):
    run, log, best = plateau_run
    assert list(log["epoch"]) == list(range(1, best + 4)), "no early stop 3 epochs after the best one"
    assert (log["val_macro_f1"][best:] <= log["val_macro_f1"][best - 1]).all()  # equal is no better
    best_state, _, best_train = load_checkpoint(run / "best.npz")
    last_state, _, last_train = load_checkpoint(run / "last.npz")
    assert best_train["epoch"] + 1 == best and last_train["epoch"] + 1 == best + 3
    assert best_train["early_stopping"]["best"] == pytest.approx(log["val_macro_f1"][best - 1], rel=1e-5)
    assert any(not np.array_equal(best_state[k], last_state[k]) for k in best_state)
    # The plateau: the rate halves for the third epoch after the best one, not before.
    rate = log["lr"][best - 1]
    assert list(log["lr"][best - 1:]) == pytest.approx([rate, rate, rate, rate / 2])


def test_resume_in_a_plateau_continues_the_schedule_and_early_stopping(plateau_run, data, tmp_path, capsys):
    """Stop one epoch into the plateau, resume: the rate still halves and the run still
    stops when the uninterrupted one did. A resume that reset either state would see
    its first epoch as an improvement, halve the rate later and stop later."""
    run, log, best = plateau_run
    split = tmp_path / "split"
    assert run_train(["--data", str(data), "--out", str(split), *PLATEAU[:-1], str(best + 1)], tmp_path) == 0
    capsys.readouterr()
    assert run_train(["--data", str(data), *PLATEAU, "--resume", str(split / "last.npz")], tmp_path) == 0
    out = capsys.readouterr().out
    assert f"at epoch {best + 2}" in out and "early stopping" in out
    resumed = pd.read_csv(split / "metrics.csv")
    same = ["epoch", "lr", "train_loss", "val_loss", "val_macro_f1"]
    pd.testing.assert_frame_equal(resumed[same], log[same])
    _, _, train_state = load_checkpoint(split / "best.npz")
    assert train_state["epoch"] + 1 == best


def test_predict_and_evaluate(data, tmp_path, capsys):
    run = tmp_path / "run"
    assert run_train(["--data", str(data), "--epochs", "1", "--out", str(run)], tmp_path) == 0
    submission = tmp_path / "submission.csv"
    # The training folder's images stand in for a test folder here.
    test_dir = tmp_path / "test"
    ids = kaggle_test_folder(data, test_dir, 10)
    code = cli.run(predict.main, ["--checkpoint", str(run / "best.npz"), "--data", str(test_dir),
                                  "--out", str(submission), "--tta", "--at-least-one",
                                  "--cache-dir", str(tmp_path / "cache")])
    assert code == 0
    sub = pd.read_csv(submission, keep_default_na=False)
    assert list(sub.columns) == ["Id", "Predicted"] and list(sub["Id"]) == list(ids)
    for labels in sub["Predicted"]:
        classes = [int(c) for c in labels.split()]
        assert classes and all(0 <= c < 28 for c in classes)

    # Two checkpoints (the second with its last bias lowered by 1): the submission
    # thresholds the mean of the two models' probabilities.
    state, meta, train_state = load_checkpoint(run / "best.npz")
    last_bias = [k for k in state if k.startswith("head.") and k.endswith(".bias")][-1]
    state[last_bias] = state[last_bias] - 1.0
    model = build_model(meta["model"], image_size=meta["image_size"], **meta["model_options"])
    model.load_state_dict(state)
    save_checkpoint(tmp_path / "other.npz", model, meta, train_state)
    both = [str(run / "best.npz"), str(tmp_path / "other.npz")]
    capsys.readouterr()
    assert cli.run(predict.main, ["--checkpoint", *both, "--data", str(test_dir), "--out", str(submission),
                                  "--threshold", "0.5", "--cache-dir", str(tmp_path / "cache"), "--overwrite"]) == 0
    assert "from 2 model(s)" in capsys.readouterr().out
    images = cached_images(str(test_dir), meta["image_size"], split="test", root=str(tmp_path / "cache")).images
    each = [predict_probs(load_models([path]), images) for path in both]
    assert not np.allclose(each[0], each[1])
    expected = submission_frame(ids, (each[0] + each[1]) / 2 >= 0.5)
    pd.testing.assert_frame_equal(pd.read_csv(submission, keep_default_na=False), expected)

    code = cli.run(evaluate.main, ["--checkpoint", str(run / "best.npz"), "--data", str(data),
                                   "--out", str(tmp_path / "eval"), "--cache-dir", str(tmp_path / "cache")])
    assert code == 0
    assert "macro F1" in capsys.readouterr().out
    assert (tmp_path / "eval" / "per_class_f1.png").is_file()


@pytest.mark.parametrize("command, model, options", [
    (train_parallel_lenet, "parallel_lenet", ["branch_features=8", "conv_channels=[4,8]", "hidden=[16,16]"]),
    (train_gapnet, "gapnet", ["widths=[3,4,5]", "convs=[1,2,2]", "hidden=6"]),
], ids=["train_parallel_lenet", "train_gapnet"])
def test_per_model_commands_run_end_to_end(command, model, options, data, tmp_path, capsys):
    out = tmp_path / model
    argv = ["--data", str(data), "--cache-dir", str(tmp_path / "cache"), "--image-size", "32",
            "--epochs", "1", "--batch-size", "16", "--val-fraction", "0.25", "--out", str(out)]
    for option in options:
        argv += ["--model-option", option]
    assert cli.run(command.main, argv) == 0
    assert "a constant predictor scores" in capsys.readouterr().out
    _, meta, state = load_checkpoint(out / "best.npz")
    assert meta["model"] == model and state["epoch"] == 0
    # The command's own defaults, where the arguments above leave them.
    assert {k: meta["config"][k] for k in ("loss", "pos_weight", "schedule", "lr")} == \
        {"loss": "weighted-bce", "pos_weight": "sqrt-ratio", "schedule": "plateau", "lr": 1e-3}
    assert json.loads((out / "summary.json").read_text())["validation_samples"] > 0


def test_kfold_trains_each_fold(data, tmp_path):
    out = tmp_path / "kfold"
    assert run_train(["--data", str(data), "--epochs", "1", "--folds", "2", "--out", str(out)], tmp_path) == 0
    for k in range(2):
        assert (out / f"fold{k}" / "best.npz").is_file()
    assert json.loads((out / "summary.json").read_text())["macro_f1_tuned"] >= 0


@pytest.mark.parametrize("args, message", [
    (["--data", "/no/such/folder"], "/no/such/folder"),
    (["--folds", "1"], "--folds"),
    (["--fold", "0"], "--fold needs --folds"),
    (["--freeze-features"], "--init"),
    (["--resume", "/no/such/last.npz"], "does not exist"),
    (["--model-option", "nonsense"], "KEY=VALUE"),
    (["--tf32"], "--tf32 needs --device gpu"),
])
def test_bad_options_are_one_line_errors(data, tmp_path, capsys, args, message):
    argv = args if "--data" in args else ["--data", str(data), *args]
    assert run_train(argv, tmp_path) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err


def test_checkpoint_of_another_model_is_refused(data, tmp_path, capsys):
    bogus = tmp_path / "bogus.npz"
    bogus.write_bytes(b"not a checkpoint")
    code = cli.run(predict.main, ["--checkpoint", str(bogus), "--data", str(data)])
    assert code == 2
    assert "not an hpa checkpoint" in capsys.readouterr().err


def test_fine_tuning_trains_only_the_head(data, tmp_path):
    base, tuned = tmp_path / "base", tmp_path / "tuned"
    assert run_train(["--data", str(data), "--epochs", "1", "--out", str(base)], tmp_path) == 0
    assert run_train(["--data", str(data), "--epochs", "1", "--out", str(tuned),
                      "--init", str(base / "best.npz"), "--freeze-features"], tmp_path) == 0
    before, _, _ = load_checkpoint(base / "best.npz")
    after, _, _ = load_checkpoint(tuned / "last.npz")
    features = [k for k in before if k.startswith("features.")]
    head = [k for k in before if k.startswith("head.") and k.endswith("weight")]
    assert features and head
    for key in features:  # frozen: weights and batch-norm statistics untouched
        np.testing.assert_array_equal(before[key], after[key], err_msg=key)
    assert any(not np.array_equal(before[k], after[k]) for k in head)


def test_init_from_another_model_is_refused(data, tmp_path, capsys):
    run = tmp_path / "lenet"
    assert run_train(["--data", str(data), "--epochs", "1", "--out", str(run)], tmp_path) == 0
    code = cli.run(train.main, ["--model", "gapnet", "--data", str(data), "--image-size", "32",
                                "--init", str(run / "best.npz"), "--cache-dir", str(tmp_path / "cache")])
    assert code == 2
    assert "is for model 'parallel_lenet', not 'gapnet'" in capsys.readouterr().err

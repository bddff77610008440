"""End to end: train, resume, evaluate and predict through the real commands.

A tiny synthetic data set (the same generator and Kaggle-layout reader the
default run uses) keeps this to seconds; the checks are on what the user
gets: files, figures in the logs, exact resumption, a valid submission, and
one-line errors with a non-zero exit code.
"""
import json
import os

import numpy as np
import pandas as pd
import pytest

from hpa import cli, evaluate, predict, train
from hpa.models.checkpoint import load_checkpoint
from hpa.synthetic.generate import generate

TINY = ["--image-size", "32", "--batch-size", "16", "--val-fraction", "0.25",
        "--model-option", "branch_features=8", "--model-option", "conv_channels=[4,8]",
        "--model-option", "hidden=[16,16]"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic")
    generate(folder, n=96, size=64, seed=3, progress=False)
    return folder


def run_train(args, tmp_path):
    return cli.run(train.main, ["--model", "parallel_lenet", "--cache-dir", str(tmp_path / "cache"),
                                *TINY, *args])


def test_train_writes_everything_and_resumes_exactly(data, tmp_path, capsys):
    straight = tmp_path / "straight"
    assert run_train(["--data", str(data), "--epochs", "2", "--out", str(straight),
                      "--early-stopping", "0"], tmp_path) == 0
    out = capsys.readouterr().out
    assert "val macro F1" in out and "a constant predictor scores" in out
    for name in ("best.npz", "last.npz", "metrics.csv", "thresholds.json", "report.txt",
                 "training_curves.png", "per_class_f1.png", "f1_vs_threshold.png", "summary.json"):
        assert (straight / name).is_file(), name
    log = pd.read_csv(straight / "metrics.csv")
    assert list(log["epoch"]) == [1, 2]

    # One epoch, then --resume for the second: the same weights, bit for bit.
    split = tmp_path / "split"
    assert run_train(["--data", str(data), "--epochs", "1", "--out", str(split),
                      "--early-stopping", "0"], tmp_path) == 0
    assert run_train(["--data", str(data), "--epochs", "2", "--resume", str(split / "last.npz"),
                      "--early-stopping", "0"], tmp_path) == 0
    a, _, _ = load_checkpoint(straight / "last.npz")
    b, _, _ = load_checkpoint(split / "last.npz")
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert list(pd.read_csv(split / "metrics.csv")["epoch"]) == [1, 2]


def test_predict_and_evaluate(data, tmp_path, capsys):
    run = tmp_path / "run"
    assert run_train(["--data", str(data), "--epochs", "1", "--out", str(run)], tmp_path) == 0
    submission = tmp_path / "submission.csv"
    # The training folder's images stand in for a test folder here.
    test_dir = tmp_path / "test"
    (test_dir / "test").mkdir(parents=True)
    ids = pd.read_csv(data / "train.csv")["Id"][:10]
    for i in ids:
        for color in ("red", "green", "blue", "yellow"):
            os.link(data / "train" / f"{i}_{color}.png", test_dir / "test" / f"{i}_{color}.png")
    pd.DataFrame({"Id": ids, "Predicted": 0}).to_csv(test_dir / "sample_submission.csv", index=False)
    code = cli.run(predict.main, ["--checkpoint", str(run / "best.npz"), "--data", str(test_dir),
                                  "--out", str(submission), "--tta", "--at-least-one",
                                  "--cache-dir", str(tmp_path / "cache")])
    assert code == 0
    sub = pd.read_csv(submission, keep_default_na=False)
    assert list(sub.columns) == ["Id", "Predicted"] and list(sub["Id"]) == list(ids)
    for labels in sub["Predicted"]:
        classes = [int(c) for c in labels.split()]
        assert classes and all(0 <= c < 28 for c in classes)

    code = cli.run(evaluate.main, ["--checkpoint", str(run / "best.npz"), "--data", str(data),
                                   "--out", str(tmp_path / "eval"), "--cache-dir", str(tmp_path / "cache")])
    assert code == 0
    assert "macro F1" in capsys.readouterr().out
    assert (tmp_path / "eval" / "per_class_f1.png").is_file()


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

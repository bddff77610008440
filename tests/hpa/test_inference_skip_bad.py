"""``--skip-bad`` of hpa.predict and hpa.evaluate: the option their error messages advise.

A folder with one sample missing a channel file and one whose image is not a
PNG: without the option both commands stop with a one-line error that names
the sample; with it they use the readable samples and count the others.
"""
import os

import pandas as pd
import pytest
from tiny_runs import one_line_error, train_one_epoch

from hpa import evaluate, predict
from hpa.runtime import cli

COLORS = ("red", "green", "blue", "yellow")


@pytest.fixture(scope="module")
def trained(tiny_synthetic, tmp_path_factory):
    return train_one_epoch(tiny_synthetic, tmp_path_factory.mktemp("skip_bad")) / "run" / "best.npz"


def damaged_copy(source, folder, split, n=12):
    """The first ``n`` samples of ``source`` under ``folder/split/``: the 3rd lacks its yellow
    file, the 5th's green file is not an image. Returns the Ids."""
    ids = list(pd.read_csv(source / "train.csv")["Id"][:n])
    (folder / split).mkdir(parents=True)
    for i in ids:
        for color in COLORS:
            os.link(source / "train" / f"{i}_{color}.png", folder / split / f"{i}_{color}.png")
    os.remove(folder / split / f"{ids[2]}_yellow.png")
    broken = folder / split / f"{ids[4]}_green.png"
    os.remove(broken)
    broken.write_text("not a png")
    return ids



def test_predict_skip_bad_writes_every_id_and_counts_the_unreadable(trained, tiny_synthetic, tmp_path, capsys):
    ids = damaged_copy(tiny_synthetic, tmp_path / "test", "test")
    pd.DataFrame({"Id": ids, "Predicted": 0}).to_csv(tmp_path / "test" / "sample_submission.csv", index=False)
    argv = ["--checkpoint", str(trained), "--data", str(tmp_path / "test"), "--cache-dir", str(tmp_path / "cache")]
    assert cli.run(predict.main, [*argv, "--out", str(tmp_path / "refused.csv")]) == 2
    assert f"sample {ids[2]}: missing yellow channel file" in one_line_error(capsys)
    submission = tmp_path / "submission.csv"
    assert cli.run(predict.main, [*argv, "--out", str(submission), "--skip-bad"]) == 0
    assert "warning: 2 samples with missing or unreadable images" in capsys.readouterr().err
    sub = pd.read_csv(submission, keep_default_na=False)
    assert sorted(sub["Id"]) == sorted(ids)
    assert list(sub["Id"][-2:]) == [ids[2], ids[4]] and list(sub["Predicted"][-2:]) == ["", ""]


def test_evaluate_skip_bad_scores_the_readable_samples(trained, tiny_synthetic, tmp_path, capsys):
    ids = damaged_copy(tiny_synthetic, tmp_path / "labelled", "train")
    labels = pd.read_csv(tiny_synthetic / "train.csv")
    labels[labels["Id"].isin(ids)].to_csv(tmp_path / "labelled" / "train.csv", index=False)
    argv = ["--checkpoint", str(trained), "--data", str(tmp_path / "labelled"), "--cam", "0",
            "--cache-dir", str(tmp_path / "cache")]
    assert cli.run(evaluate.main, [*argv, "--out", str(tmp_path / "refused")]) == 2
    assert f"sample {ids[2]}: missing yellow channel file" in one_line_error(capsys)
    assert cli.run(evaluate.main, [*argv, "--out", str(tmp_path / "ev"), "--skip-bad"]) == 0
    report = (tmp_path / "ev" / "report.txt").read_text()
    assert report.startswith("samples: 10 (2 left out: missing or unreadable images)\n")

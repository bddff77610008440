"""A training run's safety checks, in process on tiny data: what is refused before the long work,
what a resumed run cleans up, and what a diverging, full-disk or stopped run says.
"""
import errno
import os
import shutil
import subprocess
import sys
import warnings

import pandas as pd
import pytest
from tiny_runs import TINY_LENET, one_line_error, train_one_epoch

from hpa import train
from hpa.runtime import cli
from hpa.training.config import TrainConfig
from hpa.training.loss_watch import LossWatch
from hpa.training.trainer import Trainer
from minidl.atomic import atomic_path, writer_label


@pytest.fixture(scope="module")
def one_epoch(tiny_synthetic, tmp_path_factory):
    """(run folder after one epoch, its cache folder)."""
    root = train_one_epoch(tiny_synthetic, tmp_path_factory.mktemp("one_epoch"))
    return root / "run", root / "cache"



def test_resume_drops_log_rows_past_the_checkpoint_and_stale_temp_files(tiny_synthetic, one_epoch, tmp_path):
    run, cache = one_epoch
    shutil.copytree(run, tmp_path / "run")
    run = tmp_path / "run"
    # A kill after the row but before the checkpoint (as before the fix) left rows the checkpoint lacks.
    with open(run / "metrics.csv", "a") as f:
        f.write("2,0.001,0.5,0.5,0.1,0.1,0.1,10,1\n2,0.001,0.5,0.5,0.1,0.1,0.1,10,1\n3,0.001,0.5,0.5,0.1,0.1,0.1,10,1\n")
    # kill -9 within atomic writes left their temporary files (named by their writer, a process now gone).
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    writer = f"{writer_label().split('-')[0]}-{dead.pid}"
    stale = [run / f".last.npz.{writer}.k2j3h4.tmp.npz", run / f".best.npz.{writer}.a8b9c0.tmp.npz",
             run / f".metrics.csv.{writer}.x1.tmp.csv"]
    for path in stale:
        path.write_bytes(b"partial")
    (run / "notes.tmp.npz").write_bytes(b"not ours")
    argv = [*TINY_LENET, "--data", str(tiny_synthetic), "--epochs", "2", "--resume", str(run / "last.npz"),
            "--cache-dir", str(cache)]
    assert cli.run(train.main, argv) == 0
    assert list(pd.read_csv(run / "metrics.csv")["epoch"]) == [1, 2]
    assert not any(path.exists() for path in stale)
    assert (run / "notes.tmp.npz").exists()


@pytest.mark.parametrize("change, message", [
    (["--optimizer", "sgd"], "--optimizer adam (this run: sgd)"),
    (["--model-option", "hidden=[8,8]"], "--model-option branch_features=8"),
    (["--freeze-features"], "--freeze-features off (this run: on)"),
])
def test_resume_that_does_not_fit_is_refused_before_anything(tiny_synthetic, one_epoch, tmp_path, capsys, change,
                                                             message):
    run = one_epoch[0]
    argv = [*TINY_LENET, "--data", str(tiny_synthetic), "--epochs", "2", "--resume", str(run / "last.npz"),
            "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "resumed"), *change]
    assert cli.run(train.main, argv) == 2
    err = one_line_error(capsys)
    assert f"--resume {run / 'last.npz'}: the checkpoint was trained with" in err and message in err
    assert not (tmp_path / "resumed").exists() and not (tmp_path / "cache").exists()


@pytest.mark.parametrize("option", ["--out", "--cache-dir"])
def test_unwritable_folders_are_refused_before_the_data_is_made(tmp_path, capsys, option):
    (tmp_path / "a_file").write_text("")
    folders = {"--out": str(tmp_path / "run"), "--cache-dir": str(tmp_path / "cache"),
               option: str(tmp_path / "a_file" / "sub")}
    argv = [*TINY_LENET, "--synthetic-n", "8", "--synthetic-size", "32", *(x for kv in folders.items() for x in kv)]
    assert cli.run(train.main, argv) == 2
    assert f"{option} {tmp_path / 'a_file' / 'sub'}: cannot write there" in one_line_error(capsys)
    assert not (tmp_path / "cache").exists() or not os.listdir(tmp_path / "cache")  # nothing generated
    assert not (tmp_path / "run").exists()


def test_nan_loss_stops_without_numpy_warnings_and_with_advice_that_fits(tiny_synthetic, one_epoch, tmp_path, capsys):
    argv = [*TINY_LENET, "--data", str(tiny_synthetic), "--epochs", "1", "--lr", "1e30", "--out", str(tmp_path / "run"),
            "--cache-dir", str(one_epoch[1])]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # an overflow warning would end the run here
        assert cli.run(train.main, argv) == 2
    err = one_line_error(capsys)
    assert "training loss became" in err and "already clipped to norm 5" in err and "--lr 1e+29" in err
    assert "--loss (bce, focal, soft-f1)" in err


def test_runaway_loss_warns_once():
    messages = []
    watch = LossWatch(TrainConfig(), messages.append, steps=3)
    for batch, loss in enumerate([1.0, 150.0, 50.0, 150.0, 150.0, 20.0]):
        watch.check(loss, 0, batch)
    assert messages == []  # never three batches in a row above 100
    for batch, loss in enumerate([150.0, 500.0, 900.0, 800.0, 900.0]):
        watch.check(loss, 1, batch)
    assert len(messages) == 1 and "epoch 2, batch 3" in messages[0] and "diverging" in messages[0]


@pytest.mark.parametrize("every, advice", [
    ("10", "interrupted while training: no checkpoint was saved yet"),
    ("0", "interrupted while training: the last checkpoint is intact; continue with --resume"),
])
def test_ctrl_c_during_training_says_what_is_saved(tiny_synthetic, one_epoch, tmp_path, capsys, monkeypatch, every,
                                                   advice):
    step, calls = Trainer.train_step, []

    def stop_at_second_batch(self, x, y):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return step(self, x, y)

    monkeypatch.setattr(Trainer, "train_step", stop_at_second_batch)
    argv = [*TINY_LENET, "--data", str(tiny_synthetic), "--epochs", "1", "--out", str(tmp_path / "run"),
            "--cache-dir", str(one_epoch[1]), "--checkpoint-every", every]
    assert cli.run(train.main, argv) == 130
    assert advice in capsys.readouterr().err


def test_full_disk_errors_name_the_file(tmp_path, capsys):
    def write_on_full_disk(argv):
        with atomic_path(tmp_path / "report.json"):
            raise OSError(errno.ENOSPC, "No space left on device")

    assert cli.run(write_on_full_disk) == 2
    assert f"no space left on the device while writing {tmp_path / 'report.json'}" in one_line_error(capsys)


def test_cache_on_a_full_tmpfs_is_a_one_line_error(tiny_synthetic, tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                      capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        argv = [*TINY_LENET, "--data", str(tiny_synthetic), "--image-size", "64", "--cache-dir", str(mount),
                "--out", str(tmp_path / "run"), "--workers", "1"]
        proc = subprocess.run([sys.executable, "-m", "hpa.train", *argv], capture_output=True, text=True,
                              check=False, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    finally:
        subprocess.run(["umount", str(mount)], check=True)
    assert proc.returncode == 2, proc.stderr[-500:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: not enough free space in {mount}") and "needs 1,572,864 bytes (1.5 MiB)" in last

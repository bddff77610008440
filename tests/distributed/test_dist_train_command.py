"""``mpiexec -n K python -m hpa.train --distributed``: one model, whatever K, and resumable across K.

Tiny runs of the real command on a small synthetic set (float32, as hpa
trains): dropout off, since its masks are drawn per rank; SGD, because Adam
divides each step by the root of a running mean of squared gradients, which
turns the last-bit differences of a gradient near zero into differences of
order 1e-5 in a few steps (``workers/hpa_models.py`` shows Adam within 1e-5
over 3 steps; these runs take 6).
"""
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from hpa.models.checkpoint import load_checkpoint
from hpa.synthesis.generate import generate

pytestmark = pytest.mark.slow

TINY = ["--model", "parallel_lenet", "--image-size", "32", "--batch-size", "16", "--val-fraction", "0.25",
        "--model-option", "branch_features=8", "--model-option", "conv_channels=[4,8]",
        "--model-option", "hidden=[16,16]", "--model-option", "dropout=0", "--early-stopping", "0",
        "--optimizer", "sgd", "--lr", "0.05"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A small synthetic set and one image cache, shared by every run of this module."""
    folder = tmp_path_factory.mktemp("train_command")
    generate(folder / "data", n=96, size=64, seed=3, progress=False)
    return folder


@pytest.fixture(scope="module")
def train(mpirun_once, workdir):
    """``train(ranks, *args)``: run hpa.train on ``ranks`` processes (0: plain, without mpiexec)."""
    def run(ranks, *args):
        argv = ["-m", "hpa.train", *TINY, "--data", str(workdir / "data"), "--cache-dir", str(workdir / "cache"),
                *args]
        if ranks == 0:
            command = [sys.executable, *argv]
        else:
            command = [mpirun_once.mpiexec, "-n", str(ranks), sys.executable, *argv, "--distributed"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=mpirun_once.env(),
                              cwd=str(workdir))
        assert done.returncode == 0, done.stdout + done.stderr
        return done
    return run


@pytest.fixture(scope="module")
def straight(train, workdir):
    """Two epochs on 2 ranks, with augmentation."""
    train(2, "--epochs", "2", "--out", str(workdir / "straight"))
    return workdir / "straight" / "last.npz"


def _weights(path):
    state, _, _ = load_checkpoint(path)
    return state


def _max_relative_difference(a, b):
    return max(float(np.max(np.abs(a[k] - b[k])) / max(np.max(np.abs(b[k])), 1e-30))
               for k in a if a[k].dtype.kind == "f")


def test_two_ranks_train_the_single_process_model_and_only_rank_0_writes(train, tmp_path):
    two = train(2, "--no-augment", "--epochs", "2", "--out", str(tmp_path / "two"))
    train(0, "--no-augment", "--epochs", "2", "--out", str(tmp_path / "one"))
    assert _max_relative_difference(_weights(tmp_path / "two" / "last.npz"),
                                    _weights(tmp_path / "one" / "last.npz")) < 1e-5
    assert two.stdout.count("epoch   2/2") == 1  # rank 0 logs, rank 1 keeps quiet
    assert "data-parallel on 2 ranks" in two.stdout
    metrics = (tmp_path / "two" / "metrics.csv").read_text().splitlines()
    assert len(metrics) == 3  # header and two epochs, written once


def test_a_run_is_the_same_with_or_without_distributed(train, tmp_path):
    # Augmentation on: each sample has its own stream in every loader, so
    # neither --distributed nor K changes it.
    losses = {}
    for ranks in (0, 1, 2):
        train(ranks, "--epochs", "1", "--out", str(tmp_path / str(ranks)))
        losses[ranks] = pd.read_csv(tmp_path / str(ranks) / "metrics.csv")["train_loss"].iloc[0]
    assert losses[1] == pytest.approx(losses[0], rel=1e-6) and losses[2] == pytest.approx(losses[0], rel=1e-6)
    assert _max_relative_difference(_weights(tmp_path / "2" / "last.npz"), _weights(tmp_path / "0" / "last.npz")) < 1e-5


@pytest.mark.parametrize("first, then", [(2, 1), (1, 2), (0, 2), (2, 0)])
def test_resume_on_another_number_of_ranks_continues_the_same_run(train, straight, tmp_path, first, then):
    # Augmentation on: it is seeded per sample, so K does not change it; 0 is a plain run.
    train(first, "--epochs", "1", "--out", str(tmp_path / "split"))
    train(then, "--epochs", "2", "--resume", str(tmp_path / "split" / "last.npz"))
    assert _max_relative_difference(_weights(tmp_path / "split" / "last.npz"),
                                    _weights(straight)) < 1e-5


def test_an_error_after_the_start_ends_every_rank_with_one_line(mpirun_once, workdir, straight):
    # Weights of another shape: every rank fails in --init, after the group has started.
    argv = ["-m", "hpa.train", *TINY, "--data", str(workdir / "data"), "--cache-dir", str(workdir / "cache"),
            "--model-option", "branch_features=4", "--init", str(straight), "--distributed", "--epochs", "1"]
    done = subprocess.run([mpirun_once.mpiexec, "-n", "2", sys.executable, *argv], capture_output=True, text=True,
                          timeout=300, env=mpirun_once.env(), cwd=str(workdir))
    assert done.returncode == 2
    assert "error: rank " in done.stderr and "--init" in done.stderr
    assert "Traceback" not in done.stderr


def test_rank_0_chooses_the_run_folder_and_refuses_one_that_holds_a_run(mpirun_once, workdir, tmp_path):
    argv = [mpirun_once.mpiexec, "-n", "2", sys.executable, "-m", "hpa.train", *TINY, "--data", str(workdir / "data"),
            "--cache-dir", str(workdir / "cache"), "--epochs", "1", "--distributed"]

    def run(*extra):
        return subprocess.run([*argv, *extra], capture_output=True, text=True, timeout=300, env=mpirun_once.env(),
                              cwd=str(tmp_path))

    done = run()
    assert done.returncode == 0, done.stderr
    [folder] = (tmp_path / "runs").iterdir()  # one new default folder, shared by both ranks
    assert (folder / "last.npz").is_file() and (folder / "config.json").is_file()
    done = run("--out", str(folder))
    assert done.returncode == 2
    assert f"error: rank 0 of 2: --out {folder}: the folder is not empty" in done.stderr
    assert "Traceback" not in done.stderr

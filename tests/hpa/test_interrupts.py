"""Interrupting real commands: signals, kill -9 and two runs at once, in subprocesses on tiny data.

What must hold: a stop says what happened and how to continue (for the
phase it hit), no worker process outlives its parent, two runs share one
cache build, and a run killed within an epoch resumes bit-identically.
"""
import contextlib
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from processes import alive, children
from tiny_runs import TINY_LENET

from hpa import train
from hpa.models.checkpoint import load_checkpoint
from hpa.runtime import cli

HERE = os.path.dirname(os.path.abspath(__file__))
SLOW_BUILD = os.path.join(HERE, "slow_cache_build.py")
KILL_AFTER_CHECKPOINTS = os.path.join(HERE, "kill_after_checkpoints.py")
HELD_GENERATION = os.path.join(HERE, "held_generation.py")


def start(args, tmp_path, env=None, start_new_session=False):
    """Popen of ``python args...`` in the repository root, output to files in ``tmp_path``.

    ``start_new_session``: in a process group of its own, which a test may
    signal as a whole, like a terminal's Ctrl-C.
    """
    root = os.path.dirname(os.path.dirname(HERE))
    env = {**os.environ, "PYTHONPATH": root, **(env or {})}
    with open(tmp_path / "stdout.txt", "w") as out, open(tmp_path / "stderr.txt", "w") as err:
        return subprocess.Popen([sys.executable, *args], stdout=out, stderr=err, cwd=root, env=env,
                                start_new_session=start_new_session)


def wait_for(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def count_lines(path):
    return sum(1 for _ in open(path)) if os.path.exists(path) else 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_stopping_a_cache_build_takes_its_workers_down(tiny_synthetic, tmp_path, sig):
    counter = tmp_path / "decoded.txt"
    proc = start([SLOW_BUILD, str(counter), "train", *TINY_LENET, "--data", str(tiny_synthetic), "--workers", "2",
                  "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "run")], tmp_path)
    wait_for(lambda: count_lines(counter) >= 4 and len(children(proc.pid)) >= 2)
    workers = children(proc.pid)
    proc.send_signal(sig)
    code = proc.wait(timeout=60)
    wait_for(lambda: not any(map(alive, workers)), timeout=10)
    err = (tmp_path / "stderr.txt").read_text()
    if sig == signal.SIGTERM:  # like Ctrl-C: a clean stop with advice for the caching phase
        assert code == 128 + signal.SIGTERM
        assert "interrupted while caching the images: finished chunks are kept" in err
        assert "Traceback" not in err
    assert count_lines(counter) < 96  # it was stopped while building


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("command", ["train", "synthetic"])
@pytest.mark.parametrize("sig, to_group", [(signal.SIGTERM, False), (signal.SIGTERM, True), (signal.SIGINT, True)])
def test_stopping_data_generation_says_so_and_takes_its_workers_down(tmp_path, command, sig, to_group):
    # Ctrl-C reaches the whole process group, as a job scheduler's SIGTERM may;
    # `kill PID` reaches the parent alone. Either way: one line, no worker traceback.
    marker = tmp_path / "drawing.txt"
    if command == "train":
        args = [*TINY_LENET, "--synthetic-n", "64", "--synthetic-size", "32",
                "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "run")]
    else:
        args = ["--out", str(tmp_path / "data"), "--n", "64", "--size", "32"]
    proc = start([HELD_GENERATION, str(marker), command, *args, "--workers", "2"], tmp_path,
                 start_new_session=True)
    try:
        wait_for(lambda: count_lines(marker) >= 2 and len(children(proc.pid)) >= 2)  # both workers are drawing
        workers = children(proc.pid)
        if to_group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        assert proc.wait(timeout=60) == 128 + sig
        wait_for(lambda: not any(map(alive, workers)), timeout=10)
    finally:  # a failed check must not leave a held generation running for good
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    err = (tmp_path / "stderr.txt").read_text()
    assert "Traceback" not in err
    assert "interrupted while generating the synthetic data" in err
    assert "--resume" not in err


def test_generation_ends_without_signalling_its_workers(tmp_path):
    # The normal end closes and joins the pool; terminating it sent SIGTERM to
    # idle workers, which raised the parent's Terminated in them (a traceback).
    for attempt in range(3):
        folder = tmp_path / str(attempt)
        folder.mkdir()
        proc = start(["-m", "hpa.synthetic", "--out", str(folder / "data"), "--n", "24", "--size", "32",
                      "--workers", "2", "--quiet"], folder)
        assert proc.wait(timeout=120) == 0
        assert "Traceback" not in (folder / "stderr.txt").read_text()


def test_two_runs_share_one_cache_build(tiny_synthetic, tmp_path):
    counter = tmp_path / "decoded.txt"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    runs = [start([SLOW_BUILD, str(counter), "cache", str(tiny_synthetic), str(tmp_path / "cache")], tmp_path / run)
            for run in "ab"]
    assert [run.wait(timeout=120) for run in runs] == [0, 0]
    waited = ["waiting for another process" in (tmp_path / run / "stderr.txt").read_text() for run in "ab"]
    assert sorted(waited) == [False, True]  # one built, the other said it waits
    for run in "ab":
        assert "cached 96 samples" in (tmp_path / run / "stdout.txt").read_text()
    assert count_lines(counter) == 96  # decoded once: the waiting run used the finished cache


def test_run_killed_within_an_epoch_resumes_bit_identically(tiny_synthetic, tmp_path):
    args = [*TINY_LENET, "--data", str(tiny_synthetic), "--epochs", "2", "--cache-dir", str(tmp_path / "cache"),
            "--checkpoint-every", "0"]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert cli.run(train.main, [*args, "--out", str(straight)]) == 0

    # 3 batches per epoch with a mid-epoch checkpoint after the first two:
    # the 3rd checkpoint is epoch 2 after its first batch, then kill -9.
    proc = start([KILL_AFTER_CHECKPOINTS, "3", "-m", "hpa.train", *args, "--out", str(killed)], tmp_path)
    assert proc.wait(timeout=300) == -signal.SIGKILL
    _, _, state = load_checkpoint(killed / "last.npz")
    assert (state["epoch"], state["position"]["epoch"], state["position"]["batch"]) == (0, 1, 1)

    assert cli.run(train.main, [*args, "--resume", str(killed / "last.npz")]) == 0
    a, _, state_a = load_checkpoint(straight / "last.npz")
    b, _, state_b = load_checkpoint(killed / "last.npz")
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    np.testing.assert_array_equal(state_a["optimizer"]["state"]["0"]["exp_avg"],
                                  state_b["optimizer"]["state"]["0"]["exp_avg"])
    logs = [pd.read_csv(run / "metrics.csv") for run in (straight, killed)]
    assert list(logs[1]["epoch"]) == [1, 2]
    np.testing.assert_array_equal(logs[0]["train_loss"], logs[1]["train_loss"])
    np.testing.assert_array_equal(logs[0]["val_macro_f1"], logs[1]["val_macro_f1"])

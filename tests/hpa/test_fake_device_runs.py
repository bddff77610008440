"""The real commands with ``--device gpu`` on the fake CUDA device: every GPU path of a
training run (loader to device, kernels, optimizer, checkpoint, exact resume) and of
evaluation runs on a machine without a GPU. In a process of its own a command gets the
fake device from tests/run_on_fake_device.py; minidl itself never installs it."""
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from tiny_runs import TINY_LENET

from hpa import evaluate, train
from hpa.runtime import cli

TESTS = pathlib.Path(__file__).resolve().parents[1]
ROOT = TESTS.parent


def _python(*args, **env):
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
                   **env}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, env=environment,
                          timeout=300)


def _train(tiny_synthetic, tmp_path, *args):
    return cli.run(train.main, ["--device", "gpu", "--data", str(tiny_synthetic),
                                "--cache-dir", str(tmp_path / "cache"), *TINY_LENET, *args])


@pytest.mark.slow
def test_gpu_training_resumes_exactly_and_evaluates(fake_device, tiny_synthetic, tmp_path, capsys):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert _train(tiny_synthetic, tmp_path, "--epochs", "2", "--out", str(straight)) == 0
    assert _train(tiny_synthetic, tmp_path, "--epochs", "1", "--out", str(split)) == 0
    assert _train(tiny_synthetic, tmp_path, "--epochs", "2", "--resume", str(split / "last.npz")) == 0
    with np.load(straight / "last.npz") as a, np.load(split / "last.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            if key != "meta.json":  # run folders and times differ; weights and optimizer state may not
                np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        meta = bytes(a["meta.json"]).decode()
    assert '"device": {"seed"' in meta  # the device stream is checkpointed next to the host one
    capsys.readouterr()
    assert cli.run(evaluate.main, ["--checkpoint", str(straight / "best.npz"), "--data", str(tiny_synthetic),
                                   "--cache-dir", str(tmp_path / "cache"), "--device", "gpu",
                                   "--out", str(tmp_path / "eval")]) == 0
    assert "macro F1" in capsys.readouterr().out


def test_minidl_ignores_the_test_device_variable():
    done = _python("-c", "import minidl; print(minidl.backend.test_device(), minidl.backend.cupy is None)",
                   MINIDL_TEST_DEVICE="fake")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == "None"  # only the tests' configuration installs the fake device


@pytest.mark.slow
def test_a_command_in_its_own_process_trains_on_the_fake_device(tiny_synthetic, tmp_path):
    done = _python(str(TESTS / "run_on_fake_device.py"), "-m", "hpa.train", "--device", "gpu", "--data",
                   str(tiny_synthetic), "--cache-dir", str(tmp_path / "cache"), *TINY_LENET, "--epochs", "1",
                   "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    assert len((tmp_path / "run" / "metrics.csv").read_text().splitlines()) == 2
    with np.load(tmp_path / "run" / "last.npz") as checkpoint:
        assert '"device": {"seed"' in bytes(checkpoint["meta.json"]).decode()  # a GPU run's random state


def test_the_launcher_needs_a_module():
    done = _python(str(TESTS / "run_on_fake_device.py"), "hpa.train")
    assert done.returncode == 1 and "usage: python tests/run_on_fake_device.py -m MODULE" in done.stderr


def test_gpu_training_sends_uint8_and_augments_on_the_device(fake_device, tiny_synthetic, tmp_path, monkeypatch):
    from hpa.data.batches import device_batches
    seen = []

    def counting(x, *params):
        seen.append(x.dtype)
        return augment_images(x, *params)

    augment_images = device_batches.augment_images
    monkeypatch.setattr(device_batches, "augment_images", counting)
    assert _train(tiny_synthetic, tmp_path, "--epochs", "1", "--loader-workers", "1",
                  "--out", str(tmp_path / "run")) == 0
    assert seen and set(seen) == {np.dtype(np.uint8)}  # every training batch crossed as uint8
    seen.clear()
    md_cpu = ["--device", "cpu"]  # the last --device wins: a CPU run keeps the host path
    assert _train(tiny_synthetic, tmp_path, "--epochs", "1", *md_cpu, "--out", str(tmp_path / "cpu")) == 0
    assert seen == []

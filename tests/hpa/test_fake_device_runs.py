"""The real commands with ``--device gpu`` on the fake CUDA device: every GPU path of a
training run (loader to device, kernels, optimizer, checkpoint, exact resume) and of
evaluation runs on a machine without a GPU."""
import numpy as np
import pytest
from tiny_runs import TINY_LENET

from hpa import cli, evaluate, train


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

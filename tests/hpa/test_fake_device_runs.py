"""The real commands with ``--device gpu`` on the fake CUDA device: every GPU path of a
training run (loader to device, kernels, optimizer, checkpoint, exact resume) and of
evaluation runs on a machine without a GPU."""
import numpy as np
import pytest

from hpa import cli, evaluate, train
from hpa.synthetic import generate

TINY = ["--image-size", "32", "--batch-size", "16", "--val-fraction", "0.25",
        "--model-option", "branch_features=8", "--model-option", "conv_channels=[4,8]",
        "--model-option", "hidden=[16,16]", "--early-stopping", "0"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic")
    generate(folder, n=48, size=48, seed=5, progress=False)
    return folder


def _train(data, tmp_path, *args):
    return cli.run(train.main, ["--model", "parallel_lenet", "--device", "gpu", "--data", str(data),
                                "--cache-dir", str(tmp_path / "cache"), *TINY, *args])


@pytest.mark.slow
def test_gpu_training_resumes_exactly_and_evaluates(fake_device, data, tmp_path, capsys):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert _train(data, tmp_path, "--epochs", "2", "--out", str(straight)) == 0
    assert _train(data, tmp_path, "--epochs", "1", "--out", str(split)) == 0
    assert _train(data, tmp_path, "--epochs", "2", "--resume", str(split / "last.npz")) == 0
    with np.load(straight / "last.npz") as a, np.load(split / "last.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            if key != "meta.json":  # run folders and times differ; weights and optimizer state may not
                np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        meta = bytes(a["meta.json"]).decode()
    assert '"device": {"seed"' in meta  # the device stream is checkpointed next to the host one
    capsys.readouterr()
    assert cli.run(evaluate.main, ["--checkpoint", str(straight / "best.npz"), "--data", str(data),
                                   "--cache-dir", str(tmp_path / "cache"), "--device", "gpu",
                                   "--out", str(tmp_path / "eval")]) == 0
    assert "macro F1" in capsys.readouterr().out

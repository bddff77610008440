"""The real commands on the GPU: ``hpa.train --device gpu`` (batches through the
DevicePrefetcher's pinned buffers and copy stream), exact resume, ``hpa.evaluate``."""
import numpy as np
import pytest
from tiny_runs import TINY_LENET

import minidl as md
from hpa import evaluate, train
from hpa.runtime import cli

pytestmark = pytest.mark.gpu


def test_prefetched_batches_arrive_intact_and_in_order():
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((64, 4, 32, 32)).astype(np.float32), np.arange(64) + k, f"ids-{k}")
               for k in range(6)]
    seen = list(md.DevicePrefetcher(batches, "gpu"))
    assert len(seen) == len(batches)
    for (x, y, ids), (dx, dy, dids) in zip(batches, seen):
        assert md.backend.is_device_array(dx) and md.backend.is_device_array(dy) and dids == ids
        np.testing.assert_array_equal(md.to_numpy(dx * 1), x)  # a kernel on the compute stream reads it
        np.testing.assert_array_equal(md.to_numpy(dy), y)


def test_training_on_the_gpu_resumes_exactly_and_evaluates(tiny_synthetic, tmp_path, capsys):
    def run(*args):
        return cli.run(train.main, ["--device", "gpu", "--data", str(tiny_synthetic), "--cache-dir", str(tmp_path / "cache"),
                                    *TINY_LENET, *args])
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert run("--epochs", "2", "--out", str(straight)) == 0
    assert run("--epochs", "1", "--out", str(split)) == 0
    assert run("--epochs", "2", "--resume", str(split / "last.npz")) == 0
    with np.load(straight / "last.npz") as a, np.load(split / "last.npz") as b:
        for key in a.files:
            if key != "meta.json":
                np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    capsys.readouterr()
    assert cli.run(evaluate.main, ["--checkpoint", str(straight / "best.npz"), "--data", str(tiny_synthetic),
                                   "--cache-dir", str(tmp_path / "cache"), "--device", "gpu",
                                   "--out", str(tmp_path / "eval")]) == 0
    assert "macro F1" in capsys.readouterr().out


def test_training_with_tf32_completes_with_finite_losses(tiny_synthetic, tmp_path):
    """--tf32: the products on tensor cores; the run completes and its losses stay finite."""
    out = tmp_path / "tf32"
    assert cli.run(train.main, ["--device", "gpu", "--tf32", "--data", str(tiny_synthetic), "--cache-dir",
                                str(tmp_path / "cache"), *TINY_LENET, "--epochs", "1", "--out", str(out)]) == 0
    rows = (out / "metrics.csv").read_text().splitlines()
    assert len(rows) == 2 and "nan" not in rows[1].lower()

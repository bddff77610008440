"""K-fold runs: one --fold at a time leaves the run report alone; out-of-fold thresholds for the ensemble."""
import numpy as np
import pytest
from tiny_runs import TINY_LENET_OPTIONS

from hpa import evaluate, train
from hpa.evaluation.inference import load_models, mean_thresholds, oof_thresholds_file
from hpa.evaluation.thresholds import load_thresholds
from hpa.runtime import cli
from hpa.synthesis.generate import generate

TINY = [*TINY_LENET_OPTIONS, "--epochs", "1", "--threshold-step", "0.001"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic")
    generate(folder, n=48, size=32, seed=3, progress=False)
    return folder


def test_folds_one_at_a_time_then_out_of_fold_thresholds(data, tmp_path, capsys):
    out = tmp_path / "run"
    common = ["--model", "parallel_lenet", "--data", str(data), "--folds", "2", "--out", str(out),
              "--cache-dir", str(tmp_path / "cache"), *TINY]
    assert cli.run(train.main, [*common, "--fold", "0"]) == 0
    assert "1 of 2 folds finished" in capsys.readouterr().out
    assert (out / "fold0" / "report.txt").is_file()
    assert not (out / "report.txt").exists() and not (out / "oof_thresholds.json").exists()

    assert cli.run(train.main, [*common, "--fold", "1"]) == 0
    assert "out-of-fold thresholds of 2 folds (48 samples)" in capsys.readouterr().out
    report = (out / "report.txt").read_text()
    assert "validation samples: 48" in report
    oof = load_thresholds(out / "oof_thresholds.json")
    # On the 0.001 grid of --threshold-step.
    np.testing.assert_allclose(oof * 1000, np.round(oof * 1000), atol=1e-6)

    paths = [str(out / f"fold{k}" / "best.npz") for k in range(2)]
    assert oof_thresholds_file(paths) == str(out / "oof_thresholds.json")
    assert oof_thresholds_file(paths[:1]) is None  # one model: its own thresholds
    loaded = load_models(paths)
    np.testing.assert_array_equal(mean_thresholds(loaded, paths=paths), oof.astype(np.float32))
    assert cli.run(evaluate.main, ["--checkpoint", *paths, "--data", str(data), "--out", str(tmp_path / "ev"),
                                   "--cam", "0", "--cache-dir", str(tmp_path / "cache")]) == 0
    assert "using the out-of-fold thresholds" in capsys.readouterr().out

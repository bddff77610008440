"""Per-class threshold search, prediction and the thresholds file."""
import json
import os
import time

import numpy as np
import pytest
from sklearn.metrics import f1_score

from hpa.evaluation.metrics import precision_recall_f1
from hpa.evaluation.thresholds import (
    f1_curve,
    load_thresholds,
    predict,
    save_thresholds,
    search_thresholds,
    threshold_grid,
)
from hpa.runtime.errors import HpaError


def noisy_data(seed, n=300, c=6):
    """Probabilities that are informative but overlap between the classes."""
    rng = np.random.default_rng(seed)
    y = (rng.random((n, c)) < rng.uniform(0.02, 0.4, c)).astype(np.uint8)
    logits = rng.normal(size=(n, c)) + 2.0 * y - 1.0
    return 1 / (1 + np.exp(-logits)), y


def loop_f1(truth, predicted):
    """F1 of one class from its 0/1 vectors, counted the long way."""
    tp = int(np.sum(truth & predicted))
    wrong = int(np.sum(truth != predicted))
    return 2 * tp / (2 * tp + wrong) if tp + wrong else 0.0


def brute_force_curve(probs, y, grid):
    """F1 (G, C) by looping over every threshold and class."""
    y = y.astype(bool)
    return np.array([[loop_f1(y[:, c], probs[:, c] >= g) for c in range(y.shape[1])] for g in grid])


def test_grid():
    grid = threshold_grid()
    assert grid.shape == (201,) and grid[0] == 0 and grid[-1] == 1
    np.testing.assert_allclose(np.diff(grid), 0.005)
    assert threshold_grid(0.1).shape == (11,)
    for step in (0, 0.7, 0.3, "0.1", True):
        with pytest.raises(HpaError, match="step"):
            threshold_grid(step)


def test_curve_matches_sklearn_on_a_coarse_grid():
    probs, y = noisy_data(4)
    grid, f1 = f1_curve(probs, y, step=0.1)
    expected = [
        [f1_score(y[:, c], probs[:, c] >= g, zero_division=0) for c in range(6)] for g in grid
    ]
    np.testing.assert_allclose(f1, expected)


@pytest.mark.parametrize("seed", range(3))
def test_curve_matches_brute_force(seed):
    probs, y = noisy_data(seed)
    y[:, 0] = 0  # a class without positives
    grid, f1 = f1_curve(probs, y, step=0.01)
    assert grid.shape == (101,) and f1.shape == (101, 6)
    np.testing.assert_allclose(f1, brute_force_curve(probs, y, grid))
    assert (f1[:, 0] == 0).all()


def test_curve_at_zero_threshold_predicts_everything():
    probs, y = noisy_data(1)
    grid, f1 = f1_curve(probs, y)
    positives = y.sum(axis=0)
    np.testing.assert_allclose(f1[0], 2 * positives / (positives + len(y)))


@pytest.mark.parametrize("seed", range(3))
def test_search_reaches_best_grid_f1(seed):
    probs, y = noisy_data(seed)
    grid = threshold_grid()
    reference = brute_force_curve(probs, y, grid)
    thresholds = search_thresholds(probs, y)
    assert np.isin(thresholds, grid).all()
    achieved = precision_recall_f1(y, predict(probs, thresholds))[2]
    np.testing.assert_allclose(achieved, reference.max(axis=0))


def test_search_finds_oracle_f1_over_all_cut_points():
    # With probabilities on the grid, every possible cut is a grid threshold,
    # so the best grid F1 is the best F1 of any threshold whatsoever.
    rng = np.random.default_rng(7)
    grid = threshold_grid()
    y = (rng.random((400, 5)) < 0.2).astype(np.uint8)
    index = np.clip(rng.normal(80 + 60 * y, 35), 0, 200).astype(int)
    probs = grid[index]
    thresholds = search_thresholds(probs, y)
    achieved = precision_recall_f1(y, predict(probs, thresholds))[2]
    for c in range(5):
        cuts = np.append(np.unique(probs[:, c]), 2.0)  # 2.0: predict nothing
        oracle = max(loop_f1(y[:, c] == 1, probs[:, c] >= t) for t in cuts)
        assert achieved[c] == pytest.approx(oracle)


def test_separable_class_gets_threshold_in_the_middle_of_the_gap():
    rng = np.random.default_rng(0)
    y = np.zeros((100, 1), dtype=np.uint8)
    y[:30] = 1
    probs = np.where(y == 1, rng.uniform(0.6, 0.9, (100, 1)), rng.uniform(0.05, 0.2, (100, 1)))
    (threshold,) = search_thresholds(probs, y)
    low, high = probs[y == 0].max(), probs[y == 1].min()
    assert low < threshold <= high
    assert threshold == pytest.approx((low + high) / 2, abs=0.01)
    assert (predict(probs, [threshold]) == y).all()


def test_class_without_positives_falls_back():
    probs, y = noisy_data(2)
    y[:, 1] = 0
    assert search_thresholds(probs, y)[1] == 0.5
    assert search_thresholds(probs, y, fallback=0.3)[1] == 0.3
    # The other classes are unaffected by the fallback.
    others = np.delete(search_thresholds(probs, y), 1)
    np.testing.assert_array_equal(np.delete(search_thresholds(probs, y, fallback=0.3), 1), others)
    for bad in (-0.1, 1.5, "high", None):
        with pytest.raises(HpaError, match="fallback"):
            search_thresholds(probs, y, fallback=bad)


def test_predict_at_least_one():
    probs = np.array([[0.1, 0.3, 0.2], [0.9, 0.1, 0.6], [0.2, 0.1, 0.25]])
    thresholds = [0.5, 0.5, 0.5]
    plain = predict(probs, thresholds)
    assert plain.dtype == np.uint8
    assert plain.tolist() == [[0, 0, 0], [1, 0, 1], [0, 0, 0]]
    forced = predict(probs, thresholds, at_least_one=True)
    assert forced.tolist() == [[0, 1, 0], [1, 0, 1], [0, 0, 1]]


def test_predict_uses_greater_or_equal_and_scalar_threshold():
    probs = np.array([[0.5, 0.49]])
    assert predict(probs, 0.5).tolist() == [[1, 0]]


@pytest.mark.parametrize(
    "probs, thresholds, message",
    [
        (np.array([[0.5, 1.2]]), [0.5, 0.5], "probs: expected finite values"),
        (np.array([[0.5, np.nan]]), [0.5, 0.5], "probs: expected finite values"),
        (np.array([[1, 0]]), [0.5, 0.5], "probs: expected floating-point"),
        (np.array([0.5, 0.5]), [0.5, 0.5], "probs: expected a non-empty"),
        (np.array([[0.5, 0.5]]), [0.5], r"thresholds: expected shape \(2,\)"),
        (np.array([[0.5, 0.5]]), [0.5, 2.0], "thresholds: expected values in"),
        (np.array([[0.5, 0.5]]), ["a", "b"], "thresholds: expected numbers"),
    ],
)
def test_predict_rejects_bad_input(probs, thresholds, message):
    with pytest.raises(HpaError, match=message):
        predict(probs, thresholds)


def test_search_rejects_mismatched_labels():
    probs, y = noisy_data(0)
    with pytest.raises(HpaError, match="y_true: shape"):
        search_thresholds(probs, y[:, :3])


def test_fast_on_a_full_size_validation_set():
    rng = np.random.default_rng(0)
    y = (rng.random((31072, 28)) < 0.05).astype(np.uint8)
    probs = rng.random((31072, 28)).astype(np.float32)
    start = time.perf_counter()
    search_thresholds(probs, y)
    # Generous bound for a shared machine; about 0.1 s when idle.
    assert time.perf_counter() - start < 5


def test_save_load_round_trip(tmp_path):
    probs, y = noisy_data(3, c=28)
    thresholds = search_thresholds(probs, y)
    path = tmp_path / "out" / "thresholds.json"
    save_thresholds(path, thresholds)
    assert os.listdir(path.parent) == ["thresholds.json"]  # no temporary file left
    loaded = load_thresholds(path)
    np.testing.assert_array_equal(loaded, thresholds)  # bit for bit
    entries = json.loads(path.read_text())["thresholds"]
    assert entries[0]["name"] == "Nucleoplasm" and entries[27]["class"] == 27


def test_save_load_other_class_count(tmp_path):
    path = tmp_path / "t.json"
    save_thresholds(path, [0.2, 0.4, 0.6], class_names=["a", "b", "c"])
    np.testing.assert_array_equal(load_thresholds(path, num_classes=3), [0.2, 0.4, 0.6])
    with pytest.raises(HpaError, match="classes 0..27"):
        load_thresholds(path)
    with pytest.raises(HpaError, match="class_names"):
        save_thresholds(path, [0.2, 0.4], class_names=["a"])


def test_load_errors(tmp_path):
    with pytest.raises(HpaError, match="not found"):
        load_thresholds(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(HpaError, match="cannot read"):
        load_thresholds(bad)
    bad.write_text(json.dumps({"thresholds": [{"class": 0}]}))
    with pytest.raises(HpaError, match="expected"):
        load_thresholds(bad, num_classes=1)
    bad.write_text(json.dumps({"thresholds": [{"class": 0, "threshold": 3}]}))
    with pytest.raises(HpaError, match="expected values in"):
        load_thresholds(bad, num_classes=1)

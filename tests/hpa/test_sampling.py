import numpy as np
import pytest

from hpa.data.batches.sampling import class_weighted_indices, oversample_indices
from hpa.data.reading.labels import NUM_CLASSES
from hpa.runtime.errors import HpaError


def imbalanced_labels(n=400, seed=0):
    """One main class per row, class c about twice as rare as class c - 3, and
    class 0 added to a third of the rows (as Nucleoplasm is in HPA). Class 26
    is on row 7 only and class 27 on none."""
    rng = np.random.default_rng(seed)
    rate = 0.5 ** (np.arange(NUM_CLASSES) / 3)
    rate[26:] = 0
    labels = np.zeros((n, NUM_CLASSES), np.uint8)
    labels[np.arange(n), rng.choice(NUM_CLASSES, n, p=rate / rate.sum())] = 1
    labels[rng.random(n) < 1 / 3, 0] = 1
    labels[7, 26] = 1
    return labels


def test_oversampling_reaches_min_count_and_keeps_originals():
    labels = imbalanced_labels()
    indices = np.arange(0, 400, 2)
    indices = np.append(indices, 7)  # the only row of class 26
    out = oversample_indices(labels, indices, min_count=60, seed=3)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out[:len(indices)], indices)
    assert np.isin(out, indices).all()
    counts = labels[out].sum(axis=0)
    present = labels[indices].sum(axis=0) > 0
    assert (counts[present] >= 60).all()
    assert counts[27] == 0
    assert (out == 7).sum() >= 60


def test_oversampling_spreads_copies_evenly_and_is_reproducible():
    labels = np.zeros((100, NUM_CLASSES), np.uint8)
    labels[:, 0] = 1
    labels[:7, 0], labels[:7, 5] = 0, 1  # class 5 alone on 7 rows
    out = oversample_indices(labels, None, min_count=30, seed=1)
    copies = np.bincount(out[100:], minlength=100)[:7]
    assert copies.sum() == 23 and copies.max() - copies.min() <= 1
    np.testing.assert_array_equal(out, oversample_indices(labels, None, min_count=30, seed=1))
    assert not np.array_equal(out, oversample_indices(labels, None, min_count=30, seed=2))


def test_oversampling_leaves_common_classes_alone():
    labels = imbalanced_labels()
    out = oversample_indices(labels, None, min_count=1)
    np.testing.assert_array_equal(out, np.arange(len(labels)))


def test_class_weighted_sampling_favours_rare_classes():
    labels = imbalanced_labels()
    indices = np.arange(300)
    out = class_weighted_indices(labels, indices, 5000, seed=0)
    assert out.shape == (5000,) and np.isin(out, indices).all()
    before = labels[indices].mean(axis=0)
    after = labels[out].mean(axis=0)
    assert after[20] > 3 * before[20]
    assert after[0] < 0.8 * before[0]
    np.testing.assert_array_equal(out, class_weighted_indices(labels, indices, 5000, seed=0))


@pytest.mark.parametrize("call, name", [
    (lambda: oversample_indices(np.zeros((5, 27)), None), "labels"),
    (lambda: oversample_indices(np.zeros(5), None), "labels"),
    (lambda: oversample_indices(np.zeros((5, 28)), [5]), "indices"),
    (lambda: oversample_indices(np.zeros((5, 28)), None, min_count=0), "min_count"),
    (lambda: class_weighted_indices(np.zeros((5, 28)), None, -1), "n"),
    (lambda: class_weighted_indices(np.zeros((5, 28)), [], 3), "indices"),
])
def test_bad_arguments_raise_hpa_error(call, name):
    with pytest.raises(HpaError, match=f"^{name}:"):
        call()

"""Stratified splits: on the real Atlas labels and on small made-up cases.

Tolerances checked on the real 31,072 labels (what iterative stratification
achieves there is within one sample, so these leave room for other seeds):

* k-fold: each fold holds each class within 2 samples of ``n_c / k``, and
  each fold's size is within 2 % of ``N / k``;
* hold-out: 5 % to 5.5 % of the samples; at least 5 of every class with at
  least 10 samples; a class whose 5 % share is already 5 or more is held
  out within ``max(3, 3 % of its share)`` samples of that share (the top-up
  samples for rare classes also carry common labels).
"""
import os

import numpy as np
import pandas as pd
import pytest
from real_files import TRAIN_CSV

from hpa.data.batches.splits import holdout_split, iterative_stratification, kfold_split
from hpa.data.reading.labels import NUM_CLASSES, targets_to_matrix
from hpa.runtime.errors import HpaError

REAL_CSV = str(TRAIN_CSV)


@pytest.fixture(scope="module")
def real_labels():
    if not os.path.exists(REAL_CSV):
        pytest.skip(f"{REAL_CSV} not present")
    return targets_to_matrix(pd.read_csv(REAL_CSV)["Target"].tolist())


@pytest.fixture(scope="module")
def real_folds(real_labels):
    return {k: kfold_split(real_labels, k=k, seed=0) for k in (3, 5)}


@pytest.fixture(scope="module")
def real_holdout(real_labels):
    return holdout_split(real_labels, fraction=0.05, min_per_class=5, seed=0)


@pytest.mark.parametrize("k", [3, 5])
def test_real_folds_partition_the_samples(real_labels, real_folds, k):
    folds = real_folds[k]
    assert len(folds) == k
    val = np.concatenate([v for _, v in folds])
    np.testing.assert_array_equal(np.sort(val), np.arange(len(real_labels)))
    for train, v in folds:
        assert len(np.intersect1d(train, v)) == 0
        assert len(train) + len(v) == len(real_labels)


@pytest.mark.parametrize("k", [3, 5])
def test_real_folds_are_stratified_and_balanced(real_labels, real_folds, k):
    per_class = real_labels.sum(axis=0)
    counts = np.array([real_labels[v].sum(axis=0) for _, v in real_folds[k]])  # (k, C)
    assert (counts > 0).all(), "every fold must hold every class"
    assert np.abs(counts - per_class / k).max() <= 2
    sizes = np.array([len(v) for _, v in real_folds[k]])
    n = len(real_labels)
    assert np.abs(sizes - n / k).max() <= 0.02 * n / k


def test_real_holdout(real_labels, real_holdout):
    train, val = real_holdout
    n = len(real_labels)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(n))
    assert 0.05 * n <= len(val) <= 0.055 * n
    per_class = real_labels.sum(axis=0)
    held = real_labels[val].sum(axis=0)
    assert (held[per_class >= 10] >= 5).all()
    assert (held <= real_labels[train].sum(axis=0)).all()
    share = 0.05 * per_class
    common = share >= 5
    assert (np.abs(held - share)[common] <= np.maximum(3, 0.03 * share[common])).all()


def test_real_split_is_deterministic(real_labels, real_folds):
    again = kfold_split(real_labels, k=5, seed=0)
    for (t1, v1), (t2, v2) in zip(real_folds[5], again):
        np.testing.assert_array_equal(t1, t2)
        np.testing.assert_array_equal(v1, v2)
    other = kfold_split(real_labels, k=5, seed=1)
    assert not np.array_equal(real_folds[5][0][1], other[0][1])


def random_labels(seed, n=200, c=8):
    rng = np.random.default_rng(seed)
    return (rng.random((n, c)) < rng.uniform(0.03, 0.5, c)).astype(np.uint8)


def test_synthetic_folds_spread_rare_classes_best():
    # Rare classes are dealt first, so they are spread within one sample;
    # the common ones dealt last absorb what is left, a little less evenly.
    y = random_labels(0)
    folds = iterative_stratification(y, [1, 1, 1, 1], seed=3)
    per_class = y.sum(axis=0)
    spread = np.array(
        [np.ptp(np.bincount(folds[y[:, c] == 1], minlength=4)) for c in range(y.shape[1])]
    )
    rare = per_class < np.median(per_class)
    assert (spread[rare] <= 1).all()
    assert (spread <= np.maximum(2, 0.05 * per_class)).all()


def test_single_sample_class_lands_in_exactly_one_fold():
    y = random_labels(1, n=30, c=4)
    y[:, 3] = 0
    y[17, 3] = 1
    folds = kfold_split(y, k=3, seed=0)
    holders = [j for j, (_, v) in enumerate(folds) if 17 in v]
    assert len(holders) == 1
    assert sum(y[v, 3].sum() for _, v in folds) == 1


def test_unequal_proportions():
    y = random_labels(2, n=400)
    folds = iterative_stratification(y, [3, 1], seed=0)
    assert abs((folds == 1).sum() - 100) <= 8
    for c in range(y.shape[1]):
        assert abs(y[folds == 1, c].sum() - y[:, c].sum() / 4) <= 1.5


def test_samples_without_labels_are_spread_evenly():
    y = np.zeros((10, NUM_CLASSES), dtype=np.uint8)
    folds = iterative_stratification(y, [1] * 5, seed=0)
    assert np.bincount(folds).tolist() == [2] * 5


def test_no_fold_is_empty_when_n_equals_k():
    y = np.zeros((3, 2), dtype=np.uint8)
    y[:, 0] = 1
    assert sorted(iterative_stratification(y, [1, 1, 1])) == [0, 1, 2]


def test_synthetic_determinism():
    y = random_labels(3)
    np.testing.assert_array_equal(
        iterative_stratification(y, [1] * 5, seed=4), iterative_stratification(y, [1] * 5, seed=4)
    )
    train, val = holdout_split(y, fraction=0.1, seed=2)
    train2, val2 = holdout_split(y, fraction=0.1, seed=2)
    np.testing.assert_array_equal(val, val2)


def test_holdout_small_class_gets_half():
    y = random_labels(4, n=300, c=3)
    y[:, 2] = 0
    y[:6, 2] = 1  # 6 samples: the hold-out gets min(5, 6 // 2) = 3
    train, val = holdout_split(y, fraction=0.05, min_per_class=5, seed=0)
    assert y[val, 2].sum() == 3 and y[train, 2].sum() == 3


def test_n_smaller_than_k():
    with pytest.raises(HpaError, match="labels: 3 samples cannot fill 5 folds"):
        kfold_split(np.ones((3, 2), dtype=np.uint8), k=5)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda y: kfold_split(y, k=1), "k: expected an integer of at least 2"),
        (lambda y: kfold_split(y, k=2.5), "k: expected an integer"),
        (lambda y: kfold_split(y, seed=None), "seed: expected a non-negative integer"),
        (lambda y: kfold_split(y[0]), r"labels: expected a non-empty \(N, C\) matrix"),
        (lambda y: kfold_split(y * 2), "labels: expected only 0/1"),
        (lambda y: iterative_stratification(y, [1]), "proportions: expected at least two"),
        (lambda y: iterative_stratification(y, [1, -1]), "proportions: every fold size"),
        (lambda y: iterative_stratification(y, ["a", "b"]), "proportions: expected a list"),
        (lambda y: holdout_split(y, fraction=1.5), "fraction: expected a number between 0 and 1"),
        (lambda y: holdout_split(y, min_per_class=-1), "min_per_class: expected a non-negative"),
    ],
)
def test_bad_arguments_are_one_line_errors(call, message):
    with pytest.raises(HpaError, match=message) as err:
        call(random_labels(5, n=20))
    assert "\n" not in str(err.value)

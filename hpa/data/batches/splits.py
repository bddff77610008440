"""Train/validation splits that keep every class's share in every part.

Splitting multi-label data at random can leave a rare class (the Atlas has
classes with a dozen images among 31,072) out of a fold entirely, and then
its F1 on that fold means nothing. Iterative stratification (Sechidis,
Tsoumakas and Vlahavas, 2011) deals out the samples so that each fold
receives close to its share of every class:

1. Each fold ``j`` with proportion ``r[j]`` starts out *wanting*
   ``r[j] * n_c`` samples of every class ``c`` (``n_c`` = samples of ``c``)
   and ``r[j] * N`` samples in total.
2. Take the class with the fewest samples still unassigned: its samples are
   the hardest to spread, so they are placed while the folds have the most
   freedom left.
3. Give each of those samples to the fold that wants that class most; on a
   tie, to the fold that wants the most samples overall; on a further tie,
   to a random one of them. The chosen fold then wants one fewer sample of
   *every* class the sample carries, and one fewer sample in total.
4. Repeat until no labelled sample is left. Samples without any label go to
   the folds that want the most samples.

The sample order and the random tie-breaks come from ``seed``, so a split is
reproducible.
"""
import numbers

import numpy as np

from hpa.data.reading.labels import as_label_matrix
from hpa.runtime.errors import HpaError


def _proportions(proportions):
    """Check relative fold sizes and scale them to sum to 1, shape (k,)."""
    try:
        r = np.asarray(proportions, dtype=np.float64)
    except (TypeError, ValueError):
        raise HpaError("proportions: expected a list of numbers") from None
    if r.ndim != 1 or r.size < 2:
        raise HpaError(f"proportions: expected at least two fold sizes, got shape {r.shape}")
    if not (np.isfinite(r).all() and (r > 0).all()):
        raise HpaError("proportions: every fold size must be a positive number")
    return r / r.sum()


def _is_count(value):
    """True for a non-negative integer (bool excluded)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0


def _seed(seed):
    """Check that ``seed`` is a non-negative integer (None would not reproduce)."""
    if not _is_count(seed):
        raise HpaError(f"seed: expected a non-negative integer, got {seed!r}")
    return int(seed)


def _choose_fold(want_class, want_total, rng):
    """Fold wanting the class most; ties by total want, then at random."""
    best = np.flatnonzero(want_class == want_class.max())
    if len(best) > 1:
        total = want_total[best]
        best = best[total == total.max()]
    return best[rng.integers(len(best))] if len(best) > 1 else best[0]


def iterative_stratification(labels, proportions, seed=0):
    """Assign each sample to a fold; returns fold numbers of shape (N,).

    ``labels`` is a 0/1 matrix (N, C); ``proportions`` gives the relative
    size of each of the k folds (e.g. ``[0.8, 0.2]``, or ``[1] * 5``) and
    ``seed`` is a non-negative integer. The result holds values in 0..k-1.
    Raises :class:`HpaError` when N < k.
    """
    y = as_label_matrix(labels, "labels")
    r = _proportions(proportions)
    n, k = len(y), len(r)
    if n < k:
        raise HpaError(f"labels: {n} samples cannot fill {k} folds")
    rng = np.random.default_rng(_seed(seed))
    # Visit samples in a seeded random order, not file order.
    order = rng.permutation(n)
    y = y[order]
    classes_of = np.split(np.nonzero(y)[1], np.cumsum(y.sum(axis=1))[:-1])

    want_class = np.outer(r, y.sum(axis=0))  # (k, C)
    want_total = r * n  # (k,)
    fold = np.full(n, -1)
    unassigned = np.ones(n, dtype=bool)
    left = y.sum(axis=0)  # unassigned samples per class, (C,)
    while left.any():
        scarcity = np.where(left > 0, left, n + 1)
        rarest = np.flatnonzero(scarcity == scarcity.min())
        c = rarest[rng.integers(len(rarest))]
        samples = np.flatnonzero(y[:, c] & unassigned)
        for i in samples:
            j = _choose_fold(want_class[:, c], want_total, rng)
            fold[i] = j
            want_class[j, classes_of[i]] -= 1
            want_total[j] -= 1
        unassigned[samples] = False
        left -= y[samples].sum(axis=0)
    for i in np.flatnonzero(unassigned):
        j = _choose_fold(want_total, want_total, rng)
        fold[i] = j
        want_total[j] -= 1

    result = np.empty(n, dtype=np.int64)
    result[order] = fold
    return result


def kfold_split(labels, k=5, seed=0):
    """Stratified k-fold cross-validation on ``labels`` (N, C).

    Returns a list of k pairs ``(train_idx, val_idx)`` of sorted sample
    indices; the k validation parts partition 0..N-1, and each pair's
    training part is everything else. With equal fold sizes a fold that is
    still empty always wants the most, so no validation part is empty.
    """
    if not _is_count(k) or k < 2:
        raise HpaError(f"k: expected an integer of at least 2, got {k!r}")
    fold = iterative_stratification(labels, [1.0] * k, seed)
    return [(np.flatnonzero(fold != j), np.flatnonzero(fold == j)) for j in range(k)]


def holdout_split(labels, fraction=0.05, min_per_class=5, seed=0):
    """One stratified hold-out set; returns ``(train_idx, val_idx)``, sorted.

    About ``fraction`` of the samples go to the hold-out by iterative
    stratification. At 5 % a class with 40 samples would get only 2, too few
    to measure its F1, so the hold-out is then topped up until it holds
    ``min(min_per_class, n_c // 2)`` samples of each class ``c``: a class
    with at least ``2 * min_per_class`` samples gets ``min_per_class``, and a
    rarer one gets half of its samples (rounded down), so with a small
    ``fraction`` training keeps at least as many as the hold-out. The top-up
    takes, rarest class first, training samples of that class with the
    fewest other labels (random among equals), and makes the hold-out
    slightly larger than ``fraction``.
    """
    if not isinstance(fraction, numbers.Real) or not 0 < fraction < 1:
        raise HpaError(f"fraction: expected a number between 0 and 1, got {fraction!r}")
    if not _is_count(min_per_class):
        raise HpaError(f"min_per_class: expected a non-negative integer, got {min_per_class!r}")
    y = as_label_matrix(labels, "labels")
    held = iterative_stratification(y, [1 - fraction, fraction], seed) == 1

    rng = np.random.default_rng([_seed(seed), 1])  # independent of the split's stream
    counts = y.sum(axis=0)
    target = np.minimum(min_per_class, counts // 2)
    labels_per_sample = y.sum(axis=1)
    for c in np.argsort(counts, kind="stable"):
        missing = target[c] - y[held, c].sum()
        if missing <= 0:
            continue
        candidates = np.flatnonzero(y[:, c] & ~held)
        # lexsort sorts by the last key first: fewest labels, then random.
        rank = np.lexsort((rng.random(len(candidates)), labels_per_sample[candidates]))
        held[candidates[rank[:missing]]] = True
    return np.flatnonzero(~held), np.flatnonzero(held)

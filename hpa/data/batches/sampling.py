"""Index lists that show rare classes more often during training.

HPA is very imbalanced: Nucleoplasm is on ~40% of images, Rods & rings on a
handful. Both functions here return row numbers (int64, repeats allowed) for
:class:`hpa.data.batches.loader.BatchLoader`'s ``indices``; a repeated row is augmented
differently each time it is loaded, so copies are not exact duplicates.

* :func:`oversample_indices` keeps every original row once and adds copies
  until each class appears at least ``min_count`` times: a fixed list, good
  for a whole run.
* :func:`class_weighted_indices` draws rows with replacement, favouring rows
  of rare classes: draw a new list each epoch (``seed=epoch``).
"""
import numpy as np

from hpa.data.batches.loader import as_indices
from hpa.data.reading.labels import NUM_CLASSES, as_label_matrix
from hpa.runtime.errors import HpaError


def _rows_with_labels(labels, indices):
    """Validated (rows (M,) int64, multi-hot of those rows (M, 28) bool)."""
    labels = as_label_matrix(labels, classes=NUM_CLASSES)
    rows = as_indices(indices, len(labels))
    return rows, labels[rows]


def oversample_indices(labels, indices=None, min_count=500, seed=0):
    """``indices`` plus repeated rows so every class appears >= ``min_count`` times.

    labels: (N, 28) multi-hot. indices: the rows to draw from, e.g. the
    training split (None = all rows). A class absent from those rows stays
    absent: there is nothing to copy.

    Which rows get repeated, given that rows carry several labels: classes
    are visited from rarest to most common. A class still short of
    ``min_count`` (counting the copies already made for rarer classes, since
    a copy counts for every label of its row) is topped up by copying its own
    rows in whole rounds, every row once per round, and a last partial round
    over a random subset (seeded). So the copies are spread evenly over all
    examples of the class rather than piled on a few, and visiting rare
    classes first means a common class that co-occurs with them is not
    topped up twice.

    Returns int64 (M + extra,): ``indices`` unchanged, then the copies.
    """
    rows, present = _rows_with_labels(labels, indices)
    if isinstance(min_count, bool) or not isinstance(min_count, (int, np.integer)) or min_count < 1:
        raise HpaError(f"min_count: expected an integer >= 1, got {min_count!r}")
    rng = np.random.default_rng(seed)
    counts = present.sum(axis=0)
    copies = []
    for c in np.argsort(counts, kind="stable"):
        members = np.flatnonzero(present[:, c])
        short = min_count - counts[c]
        if len(members) == 0 or short <= 0:
            continue
        rounds, rest = divmod(short, len(members))
        picked = np.concatenate([np.tile(members, rounds), rng.choice(members, rest, replace=False)])
        counts += present[picked].sum(axis=0)
        copies.append(rows[picked])
    return np.concatenate([rows, *copies])


def class_weighted_indices(labels, indices, n, seed=0):
    """Draw ``n`` rows with replacement, weighted towards rare classes.

    A row's weight is 1 / (number of rows carrying its rarest class). The
    rows of a class then weigh at most 1 together, and exactly 1 when the
    class is the rarest label of each of them, so rare classes are drawn
    about as often as common ones. Rows without any label get the smallest
    possible weight, 1 / len(indices).

    labels: (N, 28) multi-hot; indices: rows to draw from (None = all).
    Returns int64 (n,).
    """
    rows, present = _rows_with_labels(labels, indices)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise HpaError(f"n: expected an integer >= 0, got {n!r}")
    if len(rows) == 0:
        raise HpaError("indices: no rows to draw from")
    inverse_count = 1 / np.maximum(present.sum(axis=0), 1)
    weight = (present * inverse_count).max(axis=1)
    weight[weight == 0] = 1 / len(rows)
    return np.random.default_rng(seed).choice(rows, size=n, p=weight / weight.sum())

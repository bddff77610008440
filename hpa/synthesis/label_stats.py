"""Label statistics of the real competition, and a sampler that follows them.

The numbers below were computed once from the competition's ``train.csv``
(31,072 label sets) with :func:`stats_from_csv`; the file itself is not part
of the project. ``tests/hpa/test_synthetic.py`` recomputes them when the real file
is present and checks that they still agree.

Three statistics describe the labels:

* ``COOCCURRENCE`` (28, 28): ``C[i, j]`` = number of samples labelled with both
  ``i`` and ``j``; the diagonal ``C[i, i]`` is the number of samples with ``i``.
* ``LABELS_PER_SAMPLE`` (5,): number of samples with 1, 2, 3, 4, 5 labels.
* ``SIZE_GIVEN_CLASS`` (28, 5): ``B[c, m-1]`` = number of samples that contain
  class ``c`` and have ``m`` labels in total.

:func:`sample_label_sets` draws new label sets from them (see its docstring).
"""
from typing import NamedTuple

import numpy as np

from hpa.data.reading.labels import NUM_CLASSES, parse_target
from hpa.runtime.errors import HpaError

NUM_SAMPLES = 31072
MAX_LABELS = 5

# fmt: off
COOCCURRENCE = (
    (12885, 600, 1735, 571, 97, 806, 89, 1092, 5, 0, 0, 259, 200, 178, 217, 12, 286, 75, 279, 614, 58, 1343, 325, 802, 78, 3631, 115, 7),
    (600, 1254, 147, 19, 52, 39, 21, 56, 0, 0, 0, 13, 7, 14, 4, 0, 0, 0, 11, 19, 0, 76, 7, 45, 1, 261, 0, 0),
    (1735, 147, 3621, 4, 48, 59, 79, 189, 11, 0, 0, 81, 25, 14, 74, 10, 48, 7, 18, 56, 6, 216, 52, 226, 12, 782, 11, 1),
    (571, 19, 4, 1561, 23, 14, 24, 40, 4, 0, 0, 14, 4, 8, 17, 0, 5, 0, 5, 20, 0, 35, 16, 51, 3, 272, 12, 0),
    (97, 52, 48, 23, 1858, 5, 2, 42, 0, 0, 0, 15, 24, 11, 18, 0, 10, 0, 16, 16, 2, 135, 24, 44, 8, 329, 17, 1),
    (806, 39, 59, 14, 5, 2513, 14, 80, 0, 0, 0, 25, 20, 9, 30, 8, 20, 3, 13, 27, 0, 120, 20, 45, 30, 555, 11, 4),
    (89, 21, 79, 24, 2, 14, 1008, 24, 0, 11, 11, 1, 2, 2, 6, 0, 9, 0, 6, 4, 6, 31, 2, 5, 0, 151, 0, 0),
    (1092, 56, 189, 40, 42, 80, 24, 2822, 1, 0, 0, 5, 15, 21, 14, 0, 37, 6, 9, 22, 0, 139, 29, 7, 5, 411, 1, 0),
    (5, 0, 11, 4, 0, 0, 0, 1, 53, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0),
    (0, 0, 0, 0, 0, 0, 11, 0, 0, 45, 28, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    (0, 0, 0, 0, 0, 0, 11, 0, 0, 28, 28, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    (259, 13, 81, 14, 15, 25, 1, 5, 0, 0, 0, 1093, 3, 9, 9, 0, 5, 0, 1, 22, 0, 22, 9, 5, 18, 139, 0, 0),
    (200, 7, 25, 4, 24, 20, 2, 15, 0, 0, 0, 3, 688, 18, 11, 0, 2, 0, 4, 15, 0, 132, 5, 18, 0, 156, 7, 0),
    (178, 14, 14, 8, 11, 9, 2, 21, 0, 0, 0, 9, 18, 537, 2, 0, 0, 0, 12, 11, 0, 111, 11, 3, 0, 126, 0, 0),
    (217, 4, 74, 17, 18, 30, 6, 14, 0, 0, 0, 9, 11, 2, 1066, 0, 102, 46, 8, 12, 0, 42, 3, 3, 0, 157, 0, 0),
    (12, 0, 10, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 21, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    (286, 0, 48, 5, 10, 20, 9, 37, 0, 0, 0, 5, 2, 0, 102, 9, 530, 77, 26, 13, 0, 38, 14, 9, 6, 150, 2, 0),
    (75, 0, 7, 0, 0, 3, 0, 6, 0, 0, 0, 0, 0, 0, 46, 0, 77, 210, 49, 10, 0, 27, 1, 3, 0, 76, 0, 0),
    (279, 11, 18, 5, 16, 13, 6, 9, 0, 0, 0, 1, 4, 12, 8, 0, 26, 49, 902, 0, 0, 62, 11, 15, 10, 258, 2, 0),
    (614, 19, 56, 20, 16, 27, 4, 22, 0, 0, 0, 22, 15, 11, 12, 0, 13, 10, 0, 1482, 0, 74, 14, 35, 1, 276, 0, 1),
    (58, 0, 6, 0, 2, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 172, 0, 0, 17, 0, 9, 0, 0),
    (1343, 76, 216, 35, 135, 120, 31, 139, 2, 0, 0, 22, 132, 111, 42, 0, 38, 27, 62, 74, 0, 3777, 125, 69, 9, 921, 16, 0),
    (325, 7, 52, 16, 24, 20, 2, 29, 0, 0, 0, 9, 5, 11, 3, 0, 14, 1, 11, 14, 0, 125, 802, 18, 5, 109, 0, 0),
    (802, 45, 226, 51, 44, 45, 5, 7, 0, 0, 0, 5, 18, 3, 3, 0, 9, 3, 15, 35, 17, 69, 18, 2965, 4, 197, 3, 2),
    (78, 1, 12, 3, 8, 30, 0, 5, 0, 0, 0, 18, 0, 0, 0, 0, 6, 0, 10, 1, 0, 9, 5, 4, 322, 53, 0, 0),
    (3631, 261, 782, 272, 329, 555, 151, 411, 2, 0, 0, 139, 156, 126, 157, 0, 150, 76, 258, 276, 9, 921, 109, 197, 53, 8228, 54, 0),
    (115, 0, 11, 12, 17, 11, 0, 1, 0, 0, 0, 0, 7, 0, 0, 0, 2, 0, 2, 0, 0, 16, 0, 3, 0, 54, 328, 0),
    (7, 0, 1, 0, 1, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 11),
)

LABELS_PER_SAMPLE = (15126, 12485, 3160, 299, 2)

SIZE_GIVEN_CLASS = (
    (2414, 7737, 2466, 267, 1), (271, 629, 299, 55, 0), (808, 1840, 849, 123, 1),
    (654, 678, 204, 25, 0), (1077, 642, 121, 17, 1), (983, 1133, 367, 30, 0),
    (622, 286, 86, 14, 0), (1163, 1139, 455, 64, 1), (31, 19, 3, 0, 0),
    (17, 17, 11, 0, 0), (0, 17, 11, 0, 0), (601, 347, 127, 18, 0),
    (232, 269, 162, 25, 0), (157, 230, 122, 26, 2), (484, 406, 159, 17, 0),
    (0, 3, 18, 0, 0), (27, 189, 263, 51, 0), (0, 81, 88, 41, 0),
    (314, 396, 157, 35, 0), (522, 679, 260, 21, 0), (98, 50, 24, 0, 0),
    (1058, 1815, 783, 120, 1), (213, 397, 174, 17, 1), (1653, 1016, 278, 18, 0),
    (122, 159, 39, 2, 0), (1470, 4645, 1911, 200, 2), (134, 147, 37, 10, 0),
    (1, 4, 6, 0, 0),
)
# fmt: on

CLASS_COUNTS = tuple(COOCCURRENCE[c][c] for c in range(NUM_CLASSES))


class LabelStats(NamedTuple):
    """The statistics of one label file, as integer arrays (shapes as above)."""

    num_samples: int
    cooccurrence: np.ndarray  # (28, 28)
    labels_per_sample: np.ndarray  # (5,)
    size_given_class: np.ndarray  # (28, 5)


def embedded_stats():
    """The real competition's statistics stored in this module."""
    return LabelStats(
        NUM_SAMPLES,
        np.array(COOCCURRENCE, dtype=np.int64),
        np.array(LABELS_PER_SAMPLE, dtype=np.int64),
        np.array(SIZE_GIVEN_CLASS, dtype=np.int64),
    )


def stats_from_matrix(y):
    """Statistics of a multi-hot label matrix ``y`` of shape (N, 28)."""
    y = np.asarray(y, dtype=np.int64)
    sizes = y.sum(axis=1)
    if sizes.min(initial=1) < 1 or sizes.max(initial=1) > MAX_LABELS:
        raise HpaError(f"every sample needs 1..{MAX_LABELS} labels")
    # One-hot of each sample's size, (N, 5); y.T @ it counts (class, size) pairs.
    size_onehot = (sizes[:, None] == np.arange(1, MAX_LABELS + 1)).astype(np.int64)
    return LabelStats(len(y), y.T @ y, size_onehot.sum(axis=0), y.T @ size_onehot)


def stats_from_csv(path):
    """Statistics of a Kaggle label CSV with columns ``Id,Target``."""
    import pandas as pd  # only needed here; image workers need not load it

    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise HpaError(f"{path}: cannot read label CSV ({e})") from None
    if "Target" not in table.columns:
        raise HpaError(f"{path}: no 'Target' column")
    y = np.zeros((len(table), NUM_CLASSES), dtype=np.int64)
    for row, target in enumerate(table["Target"]):
        y[row, parse_target(target, f"{path} row {row + 2}")] = 1
    return stats_from_matrix(y)


def sample_label_sets(n, rng, stats=None, min_fraction=0.005):
    """Draw ``n`` label sets like the real ones -> uint8 matrix (n, 28).

    Each set is built the way one would meet it by picking a random label of a
    random real sample:

    1. Draw a (first class ``c``, set size ``m``) pair with probability
       ``SIZE_GIVEN_CLASS[c, m-1] / m``. Summed over ``c`` this is exactly the
       real labels-per-sample distribution, and rare partners such as
       Lysosomes (never alone in the real data) never come out alone.
    2. Add further classes one at a time, each with probability proportional to
       the summed conditional co-occurrence ``C[a, j] / C[a, a]`` over the
       classes ``a`` already chosen, keeping only classes ``j`` seen together
       with every chosen class. Stop early if none is left.

    Class frequencies then match the real ones to within about 10 % for the
    classes with 500+ real samples (the largest excess, for classes that come
    in big sets such as the mitotic ones), and set sizes to within 1 %.

    Rare classes: with real frequencies Rods & rings (11 of 31,072) would be
    missing from most 2,000-sample sets. ``min_fraction`` sets a floor: every
    class appears in at least ``max(1, round(min_fraction * n))`` samples
    (10 of 2,000 by default). Missing occurrences are made by replacing
    samples whose classes are all well above the floor with new sets started
    from the rare class. ``min_fraction=0`` turns the floor off; it is
    skipped when ``n`` is too small to hold every class.
    """
    stats = embedded_stats() if stats is None else stats
    cooc = stats.cooccurrence.astype(np.float64)
    counts = np.diag(cooc)
    partner = cooc / np.maximum(counts[:, None], 1)
    np.fill_diagonal(partner, 0.0)
    seen_with = cooc > 0

    sizes = np.arange(1, MAX_LABELS + 1)
    joint = stats.size_given_class / sizes[None, :]
    joint = joint.ravel() / joint.sum()

    def grow(first, size):
        chosen = [first]
        weights = partner[first].copy()
        allowed = seen_with[first].copy()
        while len(chosen) < size:
            w = np.where(allowed, weights, 0.0)
            w[chosen] = 0.0
            total = w.sum()
            if total <= 0:
                break
            nxt = int(np.searchsorted(np.cumsum(w), rng.random() * total, side="right"))
            nxt = min(nxt, NUM_CLASSES - 1)  # guards the float edge at the top
            chosen.append(nxt)
            weights += partner[nxt]
            allowed &= seen_with[nxt]
        return chosen

    def size_for(first):
        row = stats.size_given_class[first].astype(np.float64) / sizes
        return int(rng.choice(sizes, p=row / row.sum()))

    out = np.zeros((n, NUM_CLASSES), dtype=np.uint8)
    for i, pair in enumerate(rng.choice(joint.size, size=n, p=joint)):
        first, size_index = divmod(int(pair), MAX_LABELS)
        out[i, grow(first, size_index + 1)] = 1

    floor = max(1, round(min_fraction * n)) if min_fraction > 0 else 0
    if floor and n >= NUM_CLASSES * floor:
        _apply_floor(out, floor, rng, np.flatnonzero(counts > 0), lambda c: grow(c, size_for(c)))
    return out


def _apply_floor(out, floor, rng, classes, new_set):
    """Replace samples in ``out`` (in place) until each of ``classes`` has
    ``floor`` samples."""
    for c in sorted(classes, key=lambda c: out[:, c].sum()):
        while out[:, c].sum() < floor:
            per_class = out.sum(axis=0)
            # A donor may only lose classes that stay above the floor.
            rich = per_class > floor + 1
            donors = np.flatnonzero(~(out.astype(bool) & ~rich).any(axis=1))
            if len(donors) == 0:
                return
            i = rng.choice(donors)
            out[i] = 0
            out[i, new_set(int(c))] = 1

"""Per-class decision thresholds tuned on validation probabilities.

A network outputs a probability ``probs[i, c]`` for every sample and class;
class ``c`` is predicted when ``probs[i, c] >= thresholds[c]``. One shared
0.5 is rarely best for macro F1: a rare class usually needs a lower
threshold to be predicted at all. :func:`search_thresholds` tries every
value of a fine grid over [0, 1] and keeps, for each class separately, the
one with the highest F1 on the validation set.

All grid points are scored at once. Each probability is assigned to the grid
interval it falls in; counting per (class, interval) and summing from the top
gives how many samples would be predicted at every threshold, in O(N C + C G)
for N samples, C classes and G grid points.
"""
import json
import math
import numbers

import numpy as np

from hpa.data.reading.labels import CLASS_NAMES, NUM_CLASSES, as_label_matrix
from hpa.runtime.errors import HpaError, quote
from minidl.atomic import atomic_write_text

DEFAULT_STEP = 0.005
DEFAULT_FALLBACK = 0.5


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def threshold_grid(step=DEFAULT_STEP, name="step"):
    """Evenly spaced thresholds from 0 to 1 inclusive, shape (G,).

    ``step`` must divide 1 into a whole number of steps (0.005 -> G = 201);
    errors name the argument as ``name``.
    """
    if not _is_number(step) or not 0 < step <= 0.5:
        raise HpaError(f"{name}: expected a number in (0, 0.5], got {step!r}")
    count = round(1 / step)
    if not math.isclose(count * step, 1.0, rel_tol=1e-9):
        raise HpaError(f"{name}: {step} does not divide 1 into whole steps")
    return np.linspace(0.0, 1.0, count + 1)


def _as_probs(probs):
    """Check that ``probs`` is a finite (N, C) matrix with values in [0, 1]."""
    p = np.asarray(probs)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] == 0:
        raise HpaError(f"probs: expected a non-empty (N, C) matrix, got shape {p.shape}")
    if not np.issubdtype(p.dtype, np.floating):
        raise HpaError(f"probs: expected floating-point probabilities, got dtype {p.dtype}")
    if not (np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()):
        raise HpaError("probs: expected finite values in [0, 1]")
    return p


def _probs_and_truth(probs, y_true):
    p = _as_probs(probs)
    t = as_label_matrix(y_true, "y_true")
    if t.shape != p.shape:
        raise HpaError(f"y_true: shape {t.shape} does not match probs shape {p.shape}")
    return p, t


def f1_curve(probs, y_true, step=DEFAULT_STEP):
    """F1 of every class at every grid threshold, for plotting and search.

    Returns ``(grid, f1)``: ``grid`` of shape (G,) from :func:`threshold_grid`
    and ``f1`` of shape (G, C), where ``f1[g, c]`` is class ``c``'s F1 when
    predicting ``probs[:, c] >= grid[g]``. A class with no positive sample
    has F1 0 everywhere. ``plt.plot(grid, f1[:, c])`` draws one class.
    """
    p, t = _probs_and_truth(probs, y_true)
    grid = threshold_grid(step)
    return grid, _f1_table(p, t, grid).T


def _f1_table(p, t, grid):
    """F1 of shape (C, G) for checked probabilities ``p`` and labels ``t``."""
    n_grid, n_classes = len(grid), p.shape[1]
    # bucket[i, c] = number of grid values <= p[i, c], so p >= grid[g]
    # exactly when g < bucket; the same comparison as in predict().
    bucket = np.searchsorted(grid, p, side="right")
    flat = bucket + (n_grid + 1) * np.arange(n_classes)
    size = n_classes * (n_grid + 1)
    all_hist = np.bincount(flat.ravel(), minlength=size).reshape(n_classes, n_grid + 1)
    pos_hist = np.bincount(flat[t], minlength=size).reshape(n_classes, n_grid + 1)
    # Samples in buckets g+1..G are predicted at threshold grid[g].
    predicted = np.cumsum(all_hist[:, ::-1], axis=1)[:, ::-1][:, 1:]
    tp = np.cumsum(pos_hist[:, ::-1], axis=1)[:, ::-1][:, 1:]
    positives = t.sum(axis=0)[:, None]
    # F1 = 2 tp / (2 tp + fp + fn) = 2 tp / (positives + predicted).
    den = (positives + predicted).astype(np.float64)
    return np.divide(2.0 * tp, den, out=np.zeros_like(den), where=den > 0)


def search_thresholds(probs, y_true, step=DEFAULT_STEP, fallback=DEFAULT_FALLBACK):
    """Best F1 threshold for each class, shape (C,).

    ``probs`` (N, C) are validation probabilities and ``y_true`` (N, C) the
    0/1 labels. Each class gets the grid threshold with its highest F1.
    F1 is often flat over a range of thresholds (no probability lies between
    them); the middle of the first best range is taken, so the threshold
    sits between the scores it separates rather than on the edge of one.

    A class with no positive sample in validation has F1 0 at every
    threshold, so the data says nothing about it; it gets ``fallback``
    (default 0.5, i.e. trust the network's own probability). The smallest
    threshold would instead predict it for every sample.
    """
    if not _is_number(fallback) or not 0 <= fallback <= 1:
        raise HpaError(f"fallback: expected a number in [0, 1], got {fallback!r}")
    p, t = _probs_and_truth(probs, y_true)
    grid = threshold_grid(step)
    f1 = _f1_table(p, t, grid)
    best = f1.max(axis=1, keepdims=True)
    at_best = f1 == best
    first = at_best.argmax(axis=1)
    # The first best run ends at the first non-best grid point after it.
    index = np.arange(len(grid))
    in_run = at_best | (index < first[:, None])
    end = np.where(in_run.all(axis=1), len(grid), in_run.argmin(axis=1))
    thresholds = grid[(first + end - 1) // 2]
    thresholds[~t.any(axis=0)] = fallback
    return thresholds


def _as_thresholds(thresholds, num_classes=None, name="thresholds"):
    """Check a (C,) vector of thresholds in [0, 1]; any C when ``num_classes`` is None."""
    try:
        th = np.asarray(thresholds, dtype=np.float64)
    except (TypeError, ValueError):
        raise HpaError(f"{name}: expected numbers") from None
    if th.ndim != 1 or th.size == 0 or (num_classes is not None and th.size != num_classes):
        expected = "(C,)" if num_classes is None else f"({num_classes},)"
        raise HpaError(f"{name}: expected shape {expected}, got {th.shape}")
    if not (np.isfinite(th).all() and (th >= 0).all() and (th <= 1).all()):
        raise HpaError(f"{name}: expected values in [0, 1]")
    return th


def predict(probs, thresholds, at_least_one=False):
    """0/1 predictions of shape (N, C): ``probs >= thresholds`` per class.

    ``thresholds`` has shape (C,) (or is one number for all classes). Every
    Atlas image shows at least one location, so with ``at_least_one=True`` a
    sample with no class over its threshold is given its most probable
    class; samples that already have a prediction are left alone.
    """
    p = _as_probs(probs)
    if np.ndim(thresholds) == 0:
        thresholds = [thresholds] * p.shape[1]
    th = _as_thresholds(thresholds, p.shape[1])
    pred = p >= th
    if at_least_one:
        empty = np.flatnonzero(~pred.any(axis=1))
        pred[empty, p[empty].argmax(axis=1)] = True
    return pred.astype(np.uint8)


def save_thresholds(path, thresholds, class_names=None):
    """Write thresholds (C,) to a JSON file, atomically.

    The file lists one ``{"class", "name", "threshold"}`` entry per class so
    it is readable by eye; the names default to
    :data:`hpa.data.reading.labels.CLASS_NAMES` when C is 28. Floats are written in full
    so a loaded threshold compares exactly like the searched one.
    """
    th = _as_thresholds(thresholds)
    if class_names is None:
        class_names = CLASS_NAMES if len(th) == NUM_CLASSES else [str(c) for c in range(len(th))]
    if len(class_names) != len(th):
        raise HpaError(f"class_names: got {len(class_names)} names for {len(th)} thresholds")
    entries = [
        {"class": c, "name": str(name), "threshold": float(value)}
        for c, (name, value) in enumerate(zip(class_names, th))
    ]
    atomic_write_text(path, json.dumps({"thresholds": entries}, indent=1) + "\n")


def load_thresholds(path, num_classes=NUM_CLASSES):
    """Read a file written by :func:`save_thresholds`; returns shape (C,).

    ``num_classes`` is the expected C; the file must list classes 0..C-1 in
    order, each with a threshold in [0, 1].
    """
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise HpaError(f"{path}: thresholds file not found") from None
    except (OSError, ValueError, RecursionError) as err:  # RecursionError: JSON nested too deep
        raise HpaError(f"{path}: cannot read thresholds ({type(err).__name__}: {quote(err, 120)})") from None
    try:
        entries = data["thresholds"]
        classes = [int(e["class"]) for e in entries]
        values = [float(e["threshold"]) for e in entries]
    except (TypeError, KeyError, ValueError):
        raise HpaError(f"{path}: expected a 'thresholds' list of class/threshold entries") from None
    if classes != list(range(num_classes)):
        raise HpaError(f"{path}: expected classes 0..{num_classes - 1} in order")
    return _as_thresholds(values, num_classes, name=str(path))

"""Scores for multi-label predictions: per-class precision, recall and F1.

Every function takes ``y_true`` and ``y_pred``, two 0/1 matrices of shape
(N, C): N samples, C classes, ``y[i, c] = 1`` when sample ``i`` has (or is
predicted to have) class ``c``. Each class is scored as its own yes/no
problem from three counts,

    tp = true positives, fp = false positives, fn = false negatives,

    precision = tp / (tp + fp)    recall = tp / (tp + fn)
    F1 = 2 tp / (2 tp + fp + fn)  (the harmonic mean of the two)

and a ratio whose denominator is zero counts as 0 (scikit-learn's
``zero_division=0``). The Kaggle score is the macro F1: the plain mean of the
C per-class F1 values, so a rare class weighs as much as a common one.
"""
import numpy as np
import pandas as pd

from hpa.data.reading.labels import CLASS_NAMES, NUM_CLASSES, as_label_matrix
from hpa.runtime.errors import HpaError


def _pair(y_true, y_pred):
    """Validate both 0/1 matrices (any C) and check that their shapes agree."""
    t = as_label_matrix(y_true, "y_true")
    p = as_label_matrix(y_pred, "y_pred")
    if t.shape != p.shape:
        raise HpaError(f"y_pred: shape {p.shape} does not match y_true shape {t.shape}")
    return t, p


def _ratio(num, den):
    """``num / den`` elementwise, with 0 where ``den`` is 0."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def confusion_counts(y_true, y_pred):
    """Per-class counts ``(tp, fp, fn)``, each an int array of shape (C,)."""
    t, p = _pair(y_true, y_pred)
    tp = (t & p).sum(axis=0)
    fp = (~t & p).sum(axis=0)
    fn = (t & ~p).sum(axis=0)
    return tp, fp, fn


def precision_recall_f1(y_true, y_pred):
    """Per-class scores ``(precision, recall, f1, support)``, each shape (C,).

    ``support`` is the number of true samples of each class. Matches
    ``sklearn.metrics.precision_recall_fscore_support(..., zero_division=0)``.
    """
    tp, fp, fn = confusion_counts(y_true, y_pred)
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    # 2tp / (2tp + fp + fn) equals 2PR / (P + R) whenever both are defined,
    # and stays finite when one of them is not.
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    return precision, recall, f1, tp + fn


def macro_f1(y_true, y_pred):
    """Mean of the C per-class F1 scores (the competition metric)."""
    return float(precision_recall_f1(y_true, y_pred)[2].mean())


def subset_accuracy(y_true, y_pred):
    """Fraction of samples whose whole label set is predicted exactly."""
    t, p = _pair(y_true, y_pred)
    return float((t == p).all(axis=1).mean())


def hamming_accuracy(y_true, y_pred):
    """Fraction of the N x C yes/no label decisions that are right.

    This is the accuracy of each label averaged over all labels, i.e.
    ``1 - sklearn.metrics.hamming_loss``. Because most labels are absent it
    is high even for poor models; prefer :func:`macro_f1` for comparisons.
    """
    t, p = _pair(y_true, y_pred)
    return float((t == p).mean())


def _names(class_names, num_classes):
    """Class names for the report rows, checked against C."""
    if class_names is None:
        if num_classes == NUM_CLASSES:
            return list(CLASS_NAMES)
        return [str(c) for c in range(num_classes)]
    names = [str(n) for n in class_names]
    if len(names) != num_classes:
        raise HpaError(f"class_names: got {len(names)} names for {num_classes} classes")
    return names


def report_frame(y_true, y_pred, class_names=None):
    """Per-class scores as a DataFrame, plus micro and macro average rows.

    One row per class (index = class number), columns ``name``,
    ``precision``, ``recall``, ``f1``, ``support`` (true samples) and
    ``predicted`` (predicted samples). Two summary rows follow:

    * ``"micro avg"`` pools the counts of all classes before dividing, so it
      is dominated by the common classes;
    * ``"macro avg"`` is the plain mean of the per-class scores; its ``f1`` is
      :func:`macro_f1`.

    ``class_names`` defaults to :data:`hpa.data.reading.labels.CLASS_NAMES` when C is 28,
    and to the class numbers otherwise.
    """
    t, p = _pair(y_true, y_pred)
    names = _names(class_names, t.shape[1])
    precision, recall, f1, support = precision_recall_f1(t, p)
    predicted = p.sum(axis=0)
    frame = pd.DataFrame(
        {
            "name": names,
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": support,
            "predicted": predicted,
        },
        index=pd.Index(range(len(names)), dtype=object, name="class"),
    )
    tp, fp, fn = (counts.sum() for counts in confusion_counts(t, p))
    frame.loc["micro avg"] = [
        "",
        _ratio(tp, tp + fp).item(),
        _ratio(tp, tp + fn).item(),
        _ratio(2 * tp, 2 * tp + fp + fn).item(),
        support.sum(),
        predicted.sum(),
    ]
    frame.loc["macro avg"] = [
        "", precision.mean(), recall.mean(), f1.mean(), support.sum(), predicted.sum()
    ]
    return frame.astype({"support": np.int64, "predicted": np.int64})


def classification_report(y_true, y_pred, class_names=None, digits=3):
    """:func:`report_frame` as an aligned text table, ready to print.

    ``digits`` is the number of decimals shown for the scores.
    """
    if not isinstance(digits, (int, np.integer)) or digits < 0:
        raise HpaError(f"digits: expected a non-negative integer, got {digits!r}")
    frame = report_frame(y_true, y_pred, class_names)
    score = f"{{:.{digits}f}}".format
    return frame.to_string(
        formatters={"precision": score, "recall": score, "f1": score},
        index_names=False,
    )

"""Class and positive-label weights for the weighted sigmoid cross-entropy.

With N training samples and N_i positives of class i, the papers' schemes are

* class weight ``w_i ∝ 1 / log(N_i)``: rare classes count more, but only
  logarithmically, so a class with 11 samples is not weighted 1000x;
* positive weight ``p_i = (N - N_i) / N_i``: a positive label of class i counts
  as much as all its negatives together, or its square root, a milder form.

Both feed ``minidl.BCEWithLogitsLoss(weight=w, pos_weight=p)``.
"""
import numpy as np

from hpa.runtime.errors import HpaError

CLASS_WEIGHT_SCHEMES = ("none", "inv-log")
POS_WEIGHT_SCHEMES = ("none", "ratio", "sqrt-ratio")


def class_counts(labels):
    """Positives per class: labels (N, C) 0/1 -> counts (C,)."""
    return np.asarray(labels).sum(axis=0).astype(np.int64)


def class_weights(labels, scheme="inv-log"):
    """Per-class weights (C,) float32, normalised to mean 1, or None for "none".

    ``log`` of a count below 2 is tiny or zero, so counts are floored at 2;
    a class absent from training gets the weight of the rarest present class.
    """
    if scheme == "none":
        return None
    if scheme != "inv-log":
        raise HpaError(f"--class-weight {scheme!r}: choose one of {', '.join(CLASS_WEIGHT_SCHEMES)}")
    counts = np.maximum(class_counts(labels), 2).astype(np.float64)
    w = 1.0 / np.log(counts)
    return (w / w.mean()).astype(np.float32)


def positive_weights(labels, scheme="sqrt-ratio", max_weight=100.0):
    """Per-class positive weights (C,) float32, or None for "none".

    A class without positives would get an infinite ratio; it is capped at
    ``max_weight`` like every other, so one rare class cannot dominate the loss.
    """
    if scheme == "none":
        return None
    if scheme not in POS_WEIGHT_SCHEMES:
        raise HpaError(f"--pos-weight {scheme!r}: choose one of {', '.join(POS_WEIGHT_SCHEMES)}")
    labels = np.asarray(labels)
    n = labels.shape[0]
    counts = np.maximum(class_counts(labels), 1).astype(np.float64)
    ratio = np.minimum((n - counts) / counts, max_weight)
    ratio = np.maximum(ratio, 1e-3)  # a class present in every sample
    return (np.sqrt(ratio) if scheme == "sqrt-ratio" else ratio).astype(np.float32)

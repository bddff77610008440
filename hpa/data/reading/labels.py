"""The 28 protein-localisation classes and the ``Target`` label format.

A Kaggle ``Target`` is a space-separated list of class numbers, e.g. ``"16 0"``;
as an array it is a multi-hot vector of length 28 (``y[c] = 1`` when class
``c`` is present).
"""
import numpy as np

from hpa.runtime.errors import HpaError, quote

CLASS_NAMES = (
    "Nucleoplasm",
    "Nuclear membrane",
    "Nucleoli",
    "Nucleoli fibrillar center",
    "Nuclear speckles",
    "Nuclear bodies",
    "Endoplasmic reticulum",
    "Golgi apparatus",
    "Peroxisomes",
    "Endosomes",
    "Lysosomes",
    "Intermediate filaments",
    "Actin filaments",
    "Focal adhesion sites",
    "Microtubules",
    "Microtubule ends",
    "Cytokinetic bridge",
    "Mitotic spindle",
    "Microtubule organizing center",
    "Centrosome",
    "Lipid droplets",
    "Plasma membrane",
    "Cell junctions",
    "Mitochondria",
    "Aggresome",
    "Cytosol",
    "Cytoplasmic bodies",
    "Rods & rings",
)
NUM_CLASSES = len(CLASS_NAMES)

# Channel order used everywhere: the stain of each channel in brackets.
CHANNELS = ("red", "green", "blue", "yellow")  # microtubules, protein, nucleus, ER


def parse_target(target, where="Target"):
    """``"16 0"`` -> sorted list of class numbers ``[0, 16]``.

    ``where`` names the CSV row or Id in the error message.
    """
    text = "" if target is None else str(target).strip()
    if not text or text.lower() == "nan":
        raise HpaError(f"{where}: empty label")
    classes = []
    for token in text.split():
        try:
            c = int(token)
        except ValueError:
            raise HpaError(f"{where}: label {quote(token)} is not a class number") from None
        if not 0 <= c < NUM_CLASSES:
            shown = token if len(token) <= 10 else quote(token)  # a number of 4000 digits is shown cut
            raise HpaError(f"{where}: label {shown} is outside 0..{NUM_CLASSES - 1}")
        classes.append(c)
    return sorted(set(classes))


def target_to_multihot(target, where="Target"):
    """``"16 0"`` -> uint8 vector of shape (28,) with ones at 0 and 16."""
    y = np.zeros(NUM_CLASSES, dtype=np.uint8)
    y[parse_target(target, where)] = 1
    return y


def multihot_to_target(y):
    """Multi-hot (or boolean) vector of shape (28,) -> ``"0 16"``."""
    y = np.asarray(y)
    if y.shape != (NUM_CLASSES,):
        raise HpaError(f"label vector has shape {y.shape}, expected ({NUM_CLASSES},)")
    return " ".join(str(c) for c in np.flatnonzero(y))


def targets_to_matrix(targets, where="row"):
    """Sequence of ``Target`` strings -> uint8 matrix of shape (N, 28)."""
    out = np.zeros((len(targets), NUM_CLASSES), dtype=np.uint8)
    for i, t in enumerate(targets):
        out[i, parse_target(t, f"{where} {i}")] = 1
    return out


def as_label_matrix(labels, where="labels", rows=None, classes=None):
    """Check a multi-hot label matrix and return it as bool (N, C).

    labels   0/1 values of shape (N, C), N and C >= 1: a bool or numeric
             array (a memmap is read whole: 28 bytes a row), or nested lists
    where    the argument's name, which starts every error message
    rows     the N the caller needs; None accepts any
    classes  the C the caller needs (``NUM_CLASSES`` for HPA labels); None
             accepts any, as the metrics do

    Returns a new bool array, ``y[i, c]`` true when sample ``i`` has class
    ``c``. Anything else raises a one-line :class:`HpaError`.
    """
    try:
        y = np.asarray(labels)
    except (TypeError, ValueError):  # e.g. ragged nested lists
        raise HpaError(f"{where}: expected a non-empty (N, C) matrix of 0/1 values") from None
    if y.ndim != 2 or y.shape[0] == 0 or y.shape[1] == 0:
        raise HpaError(f"{where}: expected a non-empty (N, C) matrix, got shape {y.shape}")
    if (rows is not None and y.shape[0] != rows) or (classes is not None and y.shape[1] != classes):
        wanted = f"({'N' if rows is None else rows}, {'C' if classes is None else classes})"
        raise HpaError(f"{where}: expected shape {wanted}, got {y.shape}")
    if y.dtype != bool:
        if not np.issubdtype(y.dtype, np.number):
            raise HpaError(f"{where}: expected 0/1 values, got dtype {y.dtype}")
        if not np.isin(y, (0, 1)).all():
            raise HpaError(f"{where}: expected only 0/1 values")
    return y.astype(bool)

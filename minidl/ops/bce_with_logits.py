"""Binary cross-entropy on logits, and the sigmoid helpers the sigmoid losses share.

For a logit ``x`` and a target ``y`` in [0, 1], with ``σ(x) = 1 / (1 + e^-x)``,
PyTorch's ``BCEWithLogitsLoss`` computes, element by element,

    l = -w [ p y log σ(x) + (1 - y) log(1 - σ(x)) ]

where ``w`` (``weight``) rescales whole elements and ``p`` (``pos_weight``,
one per class, the last axis) rescales positive labels only. Both logarithms
come from one stable function, since ``1 - σ(x) = σ(-x)``:

    l = -w [ p y log σ(x) + (1 - y) log σ(-x) ]

and since ``d log σ(x)/dx = σ(-x)`` and ``d log σ(-x)/dx = -σ(x)``,

    dl/dx = w [ (1 - y) σ(x) - p y σ(-x) ]     (= w (σ(x) - y) when p = 1).

Written this way no term is a difference of two numbers close to 1, so a
well-classified element's tiny loss and gradient keep their relative
precision in float32 (``σ(x) - y`` computed directly would round to 0).
The loss is ``Σ l`` (``reduction="sum"``) or ``Σ l / (number of elements)``
(``"mean"``: not divided by the weights' sum).

Shapes: logits and targets (N, C) (any shape, the same for both, targets in
the logits' dtype); ``weight`` broadcastable to it, e.g. (C,) per class;
``pos_weight`` broadcastable to (C,).
"""
import sys

from minidl import backend
from minidl.ops import registry


def log_sigmoid(x):
    """``log σ(x)`` for any ``x`` without overflow.

    ``log σ(x) = -log(1 + e^-x) = min(x, 0) - log(1 + e^-|x|)``: the exponent is
    never positive, so ``x = ±1e4`` gives ``-1e4`` and ``0`` with no warning.
    """
    xp = backend.get_array_module(x)
    return xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x)))


def sigmoid(x):
    """``σ(x)`` as ``exp(log σ(x))``: no overflow for large negative ``x``."""
    return backend.get_array_module(x).exp(log_sigmoid(x))


def reduction_scale(logits, reduction):
    """The factor applied to ``Σ l``: ``1 / size`` for ``"mean"``, 1 for ``"sum"``."""
    return 1.0 / logits.size if reduction == "mean" else 1.0


def forward(logits, targets, weight=None, pos_weight=None, reduction="mean"):
    """(loss as a Python float, saved for ``backward``)."""
    xp = backend.get_array_module(logits)
    y = targets
    pos = y if pos_weight is None else pos_weight * y  # p y of the formula
    w = 1.0 if weight is None else weight
    loss = -w * (pos * log_sigmoid(logits) + (1 - y) * log_sigmoid(-logits))
    return float(xp.sum(loss)) * reduction_scale(logits, reduction), (logits, y, pos)


def backward(saved, weight=None, pos_weight=None, reduction="mean"):
    """dLoss/dlogits, the logits' shape; the same hyper-parameters as ``forward``."""
    logits, y, pos = saved
    w = 1.0 if weight is None else weight
    scale = reduction_scale(logits, reduction)
    return (w * scale) * ((1 - y) * sigmoid(logits) - pos * sigmoid(-logits))


def _binary(gen, shape, dtype):
    return (gen.random(shape) < 0.4).astype(dtype)


def _soft(gen, shape, dtype):
    return gen.random(shape).astype(dtype)


CASES = [
    registry.Case("binary", (4, 5), targets=_binary),
    registry.Case("batch1-sum", (1, 6), targets=_binary, reduction="sum"),
    registry.Case("soft-scalar-weights", (3, 7), targets=_soft, weight=0.5, pos_weight=3.0),
]
registry.define("bce_with_logits", sys.modules[__name__], kind="loss", cases=CASES)

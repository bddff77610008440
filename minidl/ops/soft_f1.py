"""Soft (differentiable) macro F1 loss.

F1 counts hard decisions, so it has no gradient. Replacing the decisions by the
probabilities ``p = σ(x)`` gives soft counts per class c, summed over the batch:

    tp_c = Σ_n p y,   fp_c = Σ_n p (1 - y),   fn_c = Σ_n (1 - p) y
    F1_c = 2 tp_c / (2 tp_c + fp_c + fn_c + eps)
    L    = 1 - (1/C) Σ_c F1_c

The denominator simplifies: ``2tp + fp + fn = Σ_n (p + y)``, so with
``D_c = Σ_n (p + y) + eps`` and ``F1_c = 2 tp_c / D_c`` the quotient rule gives

    dF1_c/dp_nc = 2 y_nc / D_c - 2 tp_c / D_c² = (2 y_nc - F1_c) / D_c

and with ``dp/dx = p (1 - p)``

    dL/dx_nc = -(1/C) (2 y_nc - F1_c) / D_c · p_nc (1 - p_nc).

Shapes: logits and targets (N, C), targets in the logits' dtype; F1 is
computed per class over the batch, so it is noisy for small batches (a class
absent from the batch has F1 near 0).
"""
import sys

from minidl import backend
from minidl.ops import registry
from minidl.ops.bce_with_logits import sigmoid


def forward(logits, targets, eps=1e-7):
    """(``1 - mean_c F1_c`` as a Python float, saved for ``backward``)."""
    xp = backend.get_array_module(logits)
    y = targets
    p = sigmoid(logits)
    # σ(-x), not 1 - p, which rounds to 0 in float32 beyond x ≈ 17.
    dp = p * sigmoid(-logits)
    denom = xp.sum(p + y, axis=0) + eps  # D_c, (C,)
    f1 = 2 * xp.sum(p * y, axis=0) / denom
    return 1.0 - float(xp.mean(f1)), (y, dp, denom, f1)


def backward(saved, eps=1e-7):
    """dLoss/dlogits (N, C); ``eps`` is already inside the saved ``D_c``."""
    y, dp, denom, f1 = saved
    return -(2 * y - f1) / (denom * f1.size) * dp


def _soft(gen, shape, dtype):
    return gen.random(shape).astype(dtype)  # every class has some positive mass


CASES = [
    registry.Case("batch5", (5, 4), targets=_soft, eps=1e-3),
    registry.Case("batch1", (1, 6), targets=_soft, eps=1e-3),
]
registry.define("soft_f1", sys.modules[__name__], kind="loss", cases=CASES)

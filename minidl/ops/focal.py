"""Focal loss (Lin et al. 2017, "Focal Loss for Dense Object Detection"), sigmoid form.

Each (sample, class) element is a binary problem. With ``p = σ(x)`` and

    p_t = p     if y = 1,   1 - p   if y = 0      (the probability of the truth)
    α_t = α     if y = 1,   1 - α   if y = 0      (1 for both when α is None)

the loss of an element is ``FL = -α_t (1 - p_t)^γ log p_t``: the factor
``(1 - p_t)^γ`` shrinks the loss of elements already classified well, so the
many easy negatives of a multi-label task do not drown the rare positives.
``γ = 0, α = None`` is plain binary cross-entropy. The loss is the mean over
all N x C elements.

For soft targets ``y`` in [0, 1] we use the interpolations
``m = 1 - p_t = p (1 - y) + (1 - p) y``, ``α_t = α y + (1 - α)(1 - y)`` and
``-log p_t = ce = -[y log σ(x) + (1 - y) log σ(-x)]`` (torchvision's form),
which equal the definitions above for 0/1 targets. Derivatives, using
``dσ/dx = p (1 - p)``:

    d ce/dx = p - y = (1 - y) p - y (1 - p),        dm/dx = p (1 - p) (1 - 2y)
    dFL/dx  = α_t [ γ m^(γ-1) (dm/dx) ce + m^γ (p - y) ]

Shapes: logits and targets (N, C), targets in the logits' dtype.
"""
import sys

from minidl import backend
from minidl.ops import registry
from minidl.ops.bce_with_logits import log_sigmoid, sigmoid


def forward(logits, targets, gamma=2.0, alpha=None):
    """(mean focal loss as a Python float, saved for ``backward``)."""
    xp = backend.get_array_module(logits)
    y = targets
    # q = σ(-x) directly, not 1 - p: that rounds to 0 in float32 beyond
    # x ≈ 17, and m = 1 - p_t of a well-classified element would lose all
    # its digits instead of staying small but exact.
    p, q = sigmoid(logits), sigmoid(-logits)
    m = p * (1 - y) + q * y
    ce = -(y * log_sigmoid(logits) + (1 - y) * log_sigmoid(-logits))
    alpha_t = 1.0 if alpha is None else alpha * y + (1 - alpha) * (1 - y)
    return float(xp.sum(alpha_t * m ** gamma * ce)) / logits.size, (y, p, q, m, ce, alpha_t)


def backward(saved, gamma=2.0, alpha=None):
    """dLoss/dlogits (N, C); the same hyper-parameters as ``forward``."""
    y, p, q, m, ce, alpha_t = saved
    xp = backend.get_array_module(p)
    # m^(γ-1) is infinite at m = 0 when γ < 1, but there dm/dx = 0 and the
    # product's limit is 0: evaluate the power on a safe base and mask.
    safe_m = xp.where(m > 0, m, 1)
    focus_grad = xp.where(m > 0, gamma * safe_m ** (gamma - 1) * (p * q * (1 - 2 * y)) * ce, 0)
    # (1 - y) p - y q is p - y without the cancellation of p ≈ y ≈ 1.
    return alpha_t * (focus_grad + m ** gamma * ((1 - y) * p - y * q)) / p.size


def _binary(gen, shape, dtype):
    return (gen.random(shape) < 0.4).astype(dtype)


CASES = [
    registry.Case("gamma2", (4, 5), targets=_binary),
    registry.Case("batch1-alpha", (1, 6), targets=_binary, gamma=2.0, alpha=0.25),
    registry.Case("gamma0.5-soft", (3, 4), targets=lambda gen, shape, dtype: gen.random(shape).astype(dtype),
                  gamma=0.5, alpha=0.6),
]
registry.define("focal", sys.modules[__name__], kind="loss", cases=CASES)

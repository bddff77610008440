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

Shapes: logits and targets (N, C); F1 is computed per class over the batch, so
it is noisy for small batches (a class absent from the batch has F1 near 0).
"""
from minidl import backend
from minidl.losses.bce import as_targets, sigmoid


class SoftF1Loss:
    """``1 - mean_c softF1_c``; ``forward`` returns a Python float."""

    def __init__(self, eps=1e-7):
        if not eps > 0:
            raise ValueError(f"eps must be > 0 (it keeps an empty class from dividing by 0), got {eps}")
        self.eps = eps
        self._cache = None

    def forward(self, logits, targets):
        if logits.ndim != 2:
            raise ValueError(f"logits must be (batch, classes), got shape {tuple(logits.shape)}")
        xp = backend.get_array_module(logits)
        y = as_targets(targets, logits)
        p = sigmoid(logits)
        # σ(-x), not 1 - p, which rounds to 0 in float32 beyond x ≈ 17.
        dp = p * sigmoid(-logits)
        denom = xp.sum(p + y, axis=0) + self.eps
        f1 = 2 * xp.sum(p * y, axis=0) / denom
        self._cache = (y, dp, denom, f1)
        return 1.0 - float(xp.mean(f1))

    def backward(self):
        if self._cache is None:
            raise RuntimeError("SoftF1Loss.backward called before forward")
        y, dp, denom, f1 = self._cache
        return -(2 * y - f1) / (denom * f1.size) * dp

    __call__ = forward

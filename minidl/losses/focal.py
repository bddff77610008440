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

Shapes: logits and targets (N, C).
"""
from minidl import backend
from minidl.losses.bce import as_targets, log_sigmoid, sigmoid


class FocalLoss:
    """Sigmoid focal loss, mean over elements; ``forward`` returns a Python float."""

    def __init__(self, gamma=2.0, alpha=None):
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        if alpha is not None and not 0 <= alpha <= 1:
            raise ValueError(f"alpha must be in [0, 1] or None, got {alpha}")
        self.gamma = gamma
        self.alpha = alpha
        self._cache = None

    def forward(self, logits, targets):
        xp = backend.get_array_module(logits)
        y = as_targets(targets, logits)
        # q = σ(-x) directly, not 1 - p: that rounds to 0 in float32 beyond
        # x ≈ 17, and m = 1 - p_t of a well-classified element would lose all
        # its digits instead of staying small but exact.
        p, q = sigmoid(logits), sigmoid(-logits)
        m = p * (1 - y) + q * y
        ce = -(y * log_sigmoid(logits) + (1 - y) * log_sigmoid(-logits))
        alpha_t = 1.0 if self.alpha is None else self.alpha * y + (1 - self.alpha) * (1 - y)
        self._cache = (y, p, q, m, ce, alpha_t)
        return float(xp.sum(alpha_t * m ** self.gamma * ce)) / logits.size

    def backward(self):
        if self._cache is None:
            raise RuntimeError("FocalLoss.backward called before forward")
        y, p, q, m, ce, alpha_t = self._cache
        xp = backend.get_array_module(p)
        g = self.gamma
        # m^(γ-1) is infinite at m = 0 when γ < 1, but there dm/dx = 0 and the
        # product's limit is 0: evaluate the power on a safe base and mask.
        safe_m = xp.where(m > 0, m, 1)
        focus_grad = xp.where(m > 0, g * safe_m ** (g - 1) * (p * q * (1 - 2 * y)) * ce, 0)
        # (1 - y) p - y q is p - y without the cancellation of p ≈ y ≈ 1.
        return alpha_t * (focus_grad + m ** g * ((1 - y) * p - y * q)) / p.size

    __call__ = forward

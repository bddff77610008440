"""``FocalLoss`` (Lin et al. 2017), sigmoid form: binary cross-entropy that
shrinks the loss of elements already classified well.

The math and its derivative are the op's reference, ``minidl/ops/focal.py``.
Shapes: logits and targets (N, C).
"""
from minidl.losses.loss import Loss


class FocalLoss(Loss):
    """Sigmoid focal loss ``-α_t (1 - p_t)^γ log p_t``, mean over elements;
    ``forward`` returns a Python float. ``gamma = 0, alpha = None`` is BCE."""

    op = "focal"

    def __init__(self, gamma=2.0, alpha=None):
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        if alpha is not None and not 0 <= alpha <= 1:
            raise ValueError(f"alpha must be in [0, 1] or None, got {alpha}")
        super().__init__()
        self.gamma = gamma
        self.alpha = alpha

    def hyper(self, logits):
        return dict(gamma=self.gamma, alpha=self.alpha)

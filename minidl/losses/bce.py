"""``BCEWithLogitsLoss``: binary cross-entropy on logits, PyTorch's semantics.

The math (the loss, its gradient, why it stays exact in float32) is the op's
reference, ``minidl/ops/bce_with_logits.py``; on a GPU the fused kernel
``minidl/kernels/bce.cu`` computes the loss and its gradient in one pass.

Shapes: logits and targets (N, C) (any shape, the same for both); ``weight``
broadcastable to it, e.g. (C,) per class; ``pos_weight`` (C,).
"""
from minidl.losses.loss import LazyConstant, Loss, as_targets, check_reduction
from minidl.ops.bce_with_logits import log_sigmoid, sigmoid

__all__ = ["BCEWithLogitsLoss", "LazyConstant", "as_targets", "log_sigmoid", "sigmoid"]


class BCEWithLogitsLoss(Loss):
    """Sigmoid cross-entropy on logits with PyTorch's semantics.

    ``weight`` rescales whole elements, ``pos_weight`` (one per class) the
    positive labels only. ``reduction="mean"`` divides by the number of
    elements (not by the weights' sum), ``"sum"`` adds them up. ``forward``
    returns a Python float; ``backward()`` returns dLoss/dlogits with the
    logits' shape, dtype and device.
    """

    op = "bce_with_logits"

    def __init__(self, weight=None, pos_weight=None, reduction="mean"):
        super().__init__()
        self.reduction = check_reduction(reduction)
        self.weight = None if weight is None else LazyConstant(weight, "weight")
        self.pos_weight = None if pos_weight is None else LazyConstant(pos_weight, "pos_weight")

    def hyper(self, logits):
        return dict(weight=None if self.weight is None else self.weight.like(logits),
                    pos_weight=None if self.pos_weight is None else self.pos_weight.like(logits, logits.shape[-1:]),
                    reduction=self.reduction)

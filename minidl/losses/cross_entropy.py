"""``CrossEntropyLoss``: softmax cross-entropy for single-label classification.

The math (the shifted log-softmax, the weighted mean, the gradient) is the op's
reference, ``minidl/ops/cross_entropy.py``. Shapes: logits (N, C), targets (N,)
class indices; targets may be an integer array or a float array holding whole
numbers (the gradient checker passes float64 targets).
"""
from minidl import backend
from minidl.losses.loss import LazyConstant, Loss


def class_indices(targets, logits):
    """``targets`` as int64 class indices (N,) on the logits' device, validated."""
    xp = backend.get_array_module(logits)
    n, c = logits.shape
    targets = xp.asarray(targets)
    if targets.shape != (n,):
        raise ValueError(f"targets has shape {tuple(targets.shape)}, expected ({n},): one class index per row of logits")
    # One reduction, so one host/device synchronisation, for both checks.
    if bool(xp.any((targets != xp.floor(targets)) | (targets < 0) | (targets >= c))):
        raise ValueError(f"targets must be whole-number class indices in [0, {c})")
    return targets.astype(xp.int64)


class CrossEntropyLoss(Loss):
    """Softmax cross-entropy, PyTorch's weighted mean; ``forward`` returns a Python float."""

    op = "cross_entropy"
    matrix_logits = True

    def __init__(self, weight=None):
        super().__init__()
        self.weight = None if weight is None else LazyConstant(weight, "weight")

    def prepare_targets(self, targets, logits):
        return class_indices(targets, logits)

    def hyper(self, logits):
        if self.weight is None:
            return dict(weight=None)
        c = logits.shape[1]
        weight = self.weight.like(logits, (c,))
        if weight.shape != (c,):
            raise ValueError(f"weight has shape {tuple(weight.shape)}, expected ({c},): one per class")
        return dict(weight=weight)

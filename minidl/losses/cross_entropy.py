"""Softmax cross-entropy for single-label classification (e.g. handwritten digits).

For logits ``x`` (N, C) and integer targets ``t`` (N,) the log-softmax is

    log s_nk = x_nk - log Σ_j exp(x_nj)
             = z_nk - log Σ_j exp(z_nj),   z = x - max_j x_nj

(the shift changes nothing mathematically but keeps every exponent <= 0, so
no overflow). With class weights ``w`` (C,), PyTorch's mean is weighted by the
target classes' weights:

    L = -Σ_n w_{t_n} log s_{n,t_n} / Σ_n w_{t_n}      (w = 1: the plain mean)

and since ``d log s_nk / dx_nj = 1[j = k] - s_nj``,

    dL/dx_nj = w_{t_n} (s_nj - 1[j = t_n]) / Σ_n w_{t_n}.

Targets may be an integer array or a float array holding whole numbers (the
gradient checker passes float64 targets).
"""
from minidl import backend
from minidl.losses.bce import LazyConstant


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


class CrossEntropyLoss:
    """Softmax cross-entropy; ``forward`` returns a Python float."""

    def __init__(self, weight=None):
        self.weight = None if weight is None else LazyConstant(weight, "weight")
        self._cache = None

    def forward(self, logits, targets):
        if logits.ndim != 2:
            raise ValueError(f"logits must be (batch, classes), got shape {tuple(logits.shape)}")
        xp = backend.get_array_module(logits)
        n, c = logits.shape
        t = class_indices(targets, logits)
        z = logits - xp.max(logits, axis=1, keepdims=True)
        log_s = z - xp.log(xp.sum(xp.exp(z), axis=1, keepdims=True))
        picked = xp.take_along_axis(log_s, t[:, None], axis=1)
        if self.weight is None:
            row_scale = 1.0 / n
        else:
            weight = self.weight.like(logits, (c,))
            if weight.shape != (c,):
                raise ValueError(f"weight has shape {tuple(weight.shape)}, expected ({c},): one per class")
            w = weight[t][:, None]
            row_scale = w / xp.sum(w)
        self._cache = (log_s, t, row_scale)
        return -float(xp.sum(picked * row_scale))

    def backward(self):
        if self._cache is None:
            raise RuntimeError("CrossEntropyLoss.backward called before forward")
        log_s, t, row_scale = self._cache
        xp = backend.get_array_module(log_s)
        grad = xp.exp(log_s)
        grad[xp.arange(t.size), t] -= 1  # each row indexed once: no add.at needed
        return grad * row_scale

    __call__ = forward

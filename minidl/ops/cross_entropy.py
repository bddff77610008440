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

Shapes: logits (N, C); targets (N,) int64 class indices in [0, C) (the loss
class validates them); weight (C,) in the logits' dtype, or None.
"""
import sys

from minidl import backend
from minidl.ops import registry


def forward(logits, targets, weight=None):
    """(L as a Python float, saved for ``backward``)."""
    xp = backend.get_array_module(logits)
    t = targets
    z = logits - xp.max(logits, axis=1, keepdims=True)
    log_s = z - xp.log(xp.sum(xp.exp(z), axis=1, keepdims=True))
    picked = xp.take_along_axis(log_s, t[:, None], axis=1)  # log s_{n,t_n}, (N, 1)
    if weight is None:
        row_scale = 1.0 / logits.shape[0]
    else:
        w = weight[t][:, None]  # w_{t_n}, (N, 1)
        row_scale = w / xp.sum(w)
    return -float(xp.sum(picked * row_scale)), (log_s, t, row_scale)


def backward(saved, weight=None):
    """dL/dlogits (N, C); the class weights are already inside the saved row scale."""
    log_s, t, row_scale = saved
    xp = backend.get_array_module(log_s)
    grad = xp.exp(log_s)
    grad[xp.arange(t.size), t] -= 1  # each row indexed once: no add.at needed
    return grad * row_scale


def _indices(gen, shape, dtype):
    return gen.integers(0, shape[1], shape[0])  # int64 class indices (N,)


CASES = [
    registry.Case("batch6", (6, 4), targets=_indices),
    registry.Case("batch1", (1, 5), targets=_indices),
]
registry.define("cross_entropy", sys.modules[__name__], kind="loss", cases=CASES)

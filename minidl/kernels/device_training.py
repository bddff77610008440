"""The optimizer's and the loss's GPU paths: one fused kernel each.

Called by ``minidl.optim.Adam`` and ``minidl.losses.BCEWithLogitsLoss`` when
their arrays are device arrays; host arrays keep the NumPy code.
"""
import math

from minidl import backend
from minidl.kernels.launch import launch


def adam_update(param, state, group, decoupled):
    """One Adam/AdamW step of ``param`` in place (kernel ``adam_update``), with the
    step constants computed on the host exactly as minidl/optim/adam.py uses them.
    ``state`` holds ``step`` (already advanced), ``exp_avg`` and ``exp_avg_sq``."""
    xp = backend.get_array_module(param.data)
    t, (b1, b2), lr, wd = state["step"], group["betas"], group["lr"], group["weight_decay"]
    grad = xp.ascontiguousarray(param.grad, dtype=param.data.dtype)
    size = param.data.size
    launch("adam_update", size, param.data, grad, state["exp_avg"], state["exp_avg_sq"], size,
           b1, 1 - b1, b2, 1 - b2, group["eps"],
           0.0 if decoupled else wd, 1 - lr * wd if decoupled else 1.0,
           lr / (1 - b1 ** t), math.sqrt(1 - b2 ** t))


def _per_class_or_element(xp, w, shape):
    """(mode, contiguous array) for the kernel: 1 one value per class (last axis), 2 one per element."""
    if w.ndim >= 1 and w.shape[-1] == shape[-1] and all(d == 1 for d in w.shape[:-1]):
        return 1, xp.ascontiguousarray(w.reshape(-1))
    return 2, xp.ascontiguousarray(xp.broadcast_to(w, shape))


def bce_with_logits(loss_fn, logits, targets):
    """(loss as a Python float, dLoss/dlogits) of ``loss_fn`` (a BCEWithLogitsLoss) in one pass
    (kernel ``bce_with_logits``); the loss elements are summed by CuPy's own reduction."""
    from minidl.losses.bce import as_targets  # here: minidl.losses imports this module
    xp = backend.get_array_module(logits)
    x = xp.ascontiguousarray(logits)
    y = xp.ascontiguousarray(as_targets(targets, logits))
    classes = x.shape[-1] if x.ndim else 1
    dummy = xp.zeros(1, dtype=x.dtype)  # stands for an absent weight array
    weight_mode, weight = 0, dummy
    if loss_fn.weight is not None:
        weight_mode, weight = _per_class_or_element(xp, loss_fn.weight.like(logits), x.shape)
    pos_weight = dummy
    if loss_fn.pos_weight is not None:
        pos = loss_fn.pos_weight.like(logits, logits.shape[-1:])
        pos_weight = xp.ascontiguousarray(xp.broadcast_to(pos, (classes,)))
    scale = 1.0 / x.size if loss_fn.reduction == "mean" else 1.0
    loss, grad = xp.empty_like(x), xp.empty_like(x)
    launch("bce_with_logits", x.size, x, y, weight, weight_mode, pos_weight,
           int(loss_fn.pos_weight is not None), x.size, classes, scale, loss, grad)
    return float(xp.sum(loss)) * scale, grad

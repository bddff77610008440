"""Gradient clipping by global norm (Pascanu et al. 2013).

All gradients are treated as one vector ``g``. If ``‖g‖₂ > max_norm`` every
gradient is scaled by ``max_norm / (‖g‖₂ + 1e-6)``, which keeps the update's
direction and bounds its length; otherwise nothing changes (a factor of exactly 1).
"""
from minidl import backend
from minidl.module import Parameter


def clip_grad_norm_(params, max_norm, eps=1e-6):
    """Scale the ``.grad`` of trainable ``params`` in place; return the total norm
    before clipping as a 0-d float64 array on the gradients' device (``float()``
    of it is a host/device synchronisation; clipping itself needs none).

    Every gradient is multiplied by min(max_norm / (‖g‖₂ + eps), 1), a factor
    computed where the gradients are: exactly 1 when ‖g‖₂ is within bounds, so
    nothing changes then, and a GPU step never waits for the norm to reach the
    host (as PyTorch's ``clip_grad_norm_``). The factor is computed in float64
    and rounded once to each gradient's dtype.

    Frozen parameters (``requires_grad = False``) neither count nor change.
    """
    if not max_norm > 0:
        raise ValueError(f"max_norm must be > 0, got {max_norm}")
    params = [params] if isinstance(params, Parameter) else list(params)
    grads = [p.grad for p in params if p.requires_grad]
    if not grads:
        return 0.0
    xp = backend.get_array_module(*grads)
    squares = sum(xp.sum(g * g) for g in grads)  # per-tensor sums, all on the gradients' device
    total = xp.sqrt(xp.asarray(squares, dtype=xp.float64))
    coef = xp.minimum(max_norm / (total + eps), 1.0)
    rounded = {}  # the factor in each gradient dtype, rounded once (a launch each on a GPU)
    for g in grads:
        if g.dtype not in rounded:
            rounded[g.dtype] = coef.astype(g.dtype)
        g *= rounded[g.dtype]
    return total

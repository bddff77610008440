"""Gradient clipping by global norm (Pascanu et al. 2013).

All gradients are treated as one vector ``g``. If ``‖g‖₂ > max_norm`` every
gradient is scaled by ``max_norm / (‖g‖₂ + 1e-6)``, which keeps the update's
direction and bounds its length; otherwise nothing changes.
"""
import math

from minidl import backend
from minidl.module import Parameter


def clip_grad_norm_(params, max_norm, eps=1e-6):
    """Scale the ``.grad`` of trainable ``params`` in place; return the total norm
    before clipping as a Python float (one host/device synchronisation).

    Frozen parameters (``requires_grad = False``) neither count nor change.
    """
    if not max_norm > 0:
        raise ValueError(f"max_norm must be > 0, got {max_norm}")
    params = [params] if isinstance(params, Parameter) else list(params)
    grads = [p.grad for p in params if p.requires_grad]
    if not grads:
        return 0.0
    # Per-tensor sums stay on the device; only their total crosses to the host.
    squares = sum(backend.get_array_module(g).sum(g * g) for g in grads)
    total = math.sqrt(float(squares))
    coef = max_norm / (total + eps)
    if coef < 1:
        for g in grads:
            g *= coef
    return total

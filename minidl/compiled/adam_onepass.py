"""Adam / AdamW in one threaded pass over the parameters (math: ``minidl/ops/adam.py``).

The blocked NumPy update (``fast_cpu/adam_blocked``) runs about twelve passes
over cache-sized blocks on one core. Here each parameter's whole update is one
loop iteration, split over the cores: param, grad and the two moments are
read once and param and the moments written once.

Every element goes through the reference's operations in the reference's
order and precision (the scalars cast to the parameter's dtype, as NumPy does
with Python floats; no fused multiply-add), so the result is bit-identical to
the reference's and to the blocked update's (tests check it exactly), and so
independent of the thread count.

Measured gain (``python -m minidl.bench --only adam``: one step of 12.6M float32
parameters, 2 shared cores, load average 2-7 / 0.7): 17.3 / 5.3 ms against the
blocked NumPy update's 67.8 / 32.0 ms and PyTorch's 68.9 / 22.4 ms.
"""
import sys

import numpy

from minidl import compiled
from minidl.compiled import jit
from minidl.ops.adam import start_step, step_scalars


@jit.kernel
def _update(theta, g, m, v, decay, l2, b1, one_minus_b1, b2, one_minus_b2, rate, correction2, eps):
    for i in jit.prange(theta.size):
        t = theta[i] * decay  # decay 1 unless decoupled (AdamW): exact
        gi = g[i] + l2 * t if l2 != 0 else g[i]
        mi = m[i] * b1 + gi * one_minus_b1
        vi = v[i] * b2 + (gi * gi) * one_minus_b2
        m[i], v[i] = mi, vi
        theta[i] = t - (mi * rate) / (numpy.sqrt(vi) / correction2 + eps)


def supports(param, **_):
    return compiled.host_float(param) and param.flags.c_contiguous


def update(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False, **_):
    """The reference's ``update``: ``param`` and the moments in place; ``grad`` is not written to."""
    t = start_step(param, state)
    real = param.dtype.type
    b1, b2 = betas
    decay = 1 - lr * weight_decay if weight_decay and decoupled else 1.0
    l2 = weight_decay if weight_decay and not decoupled else 0.0
    rate, correction2 = step_scalars(t, lr, betas)
    grad = numpy.ascontiguousarray(grad, dtype=param.dtype)
    _update(param.reshape(-1), grad.reshape(-1), state["exp_avg"].reshape(-1), state["exp_avg_sq"].reshape(-1),
            *(real(s) for s in (decay, l2, b1, 1 - b1, b2, 1 - b2, rate, correction2, eps)))


compiled.register("adam", "numba_onepass", sys.modules[__name__])

"""Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019), PyTorch's update rules.

At step ``t`` with gradient ``g``, rates ``β1, β2``, learning rate ``η``:

    m ← β1 m + (1 - β1) g                    (first moment: a running mean)
    v ← β2 v + (1 - β2) g²                   (second moment: running mean square)
    m̂ = m / (1 - β1^t),  v̂ = v / (1 - β2^t)  (undo the bias of starting at 0)
    θ ← θ - η m̂ / (√v̂ + ε)

The two differ in weight decay ``λ``. Adam adds it to the gradient,
``g ← g + λθ`` (L2 regularisation), so it is divided by √v̂ like the rest and
decays parameters with large gradients less. AdamW decays the weights
directly, ``θ ← θ (1 - ηλ)``, before the Adam step ("decoupled" decay).
"""
import math

from minidl import backend
from minidl.kernels import device_training
from minidl.optim.optimizer import Optimizer


class Adam(Optimizer):
    decoupled = False
    # Parameters per block of the host update (1 MiB of float32): the block's four
    # arrays and two scratch rows, 6 MiB, stay in the L3 cache between passes.
    # Measured on the parallel LeNet's 12.6M parameters (2 cores): 31-35 ms a
    # step against 48-63 ms in whole-array passes; 64K-parameter blocks 33-41 ms.
    block_size = 1 << 18

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    def _check_group(self, group):
        super()._check_group(group)
        betas = group["betas"]
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas}")
        for name in ("eps", "weight_decay"):
            if not group[name] >= 0:
                raise ValueError(f"{name} must be >= 0, got {group[name]}")

    def _update(self, p, group, state):
        xp = backend.get_array_module(p.data)
        if not state:
            state.update(step=0, exp_avg=xp.zeros_like(p.data), exp_avg_sq=xp.zeros_like(p.data))
        state["step"] += 1
        if backend.is_device_array(p.data):  # GPU: one fused kernel (minidl/kernels/adam.cu)
            device_training.adam_update(p, state, group, self.decoupled)
            return
        t, (b1, b2), lr, wd = state["step"], group["betas"], group["lr"], group["weight_decay"]
        g = p.grad
        if wd and self.decoupled:
            p.data *= 1 - lr * wd
        elif wd:
            g = g + wd * p.data  # a new array: p.grad stays the loss's gradient
        m, v = state["exp_avg"], state["exp_avg_sq"]
        arrays = p.data, g, m, v
        size = p.data.size
        # Flat views need C-contiguous arrays (parameters are); otherwise one whole-array block.
        contiguous = all(a.flags.c_contiguous for a in arrays)
        block = min(size, self.block_size) if contiguous else size
        # Two scratch arrays of one block, reused: for a 12M-parameter layer the
        # temporaries of the plain expressions cost more than the arithmetic.
        step, denom = xp.empty(block, dtype=g.dtype), xp.empty(block, dtype=g.dtype)
        hyper = b1, b2, lr / (1 - b1 ** t), math.sqrt(1 - b2 ** t), group["eps"]
        if not contiguous:
            _adam_block(xp, *arrays, step.reshape(g.shape), denom.reshape(g.shape), *hyper)
            return
        flat = [a.reshape(-1) for a in arrays]  # views
        for start in range(0, size, block):
            part, n = slice(start, start + block), min(block, size - start)
            _adam_block(xp, *(a[part] for a in flat), step[:n], denom[:n], *hyper)


def _adam_block(xp, theta, g, m, v, step, denom, b1, b2, rate, correction2, eps):
    """One Adam update of a block of parameters, in place; ``rate`` = lr / (1 - b1^t),
    ``correction2`` = sqrt(1 - b2^t). Every line is one pass over the block: a block
    that fits in the cache (``Adam.block_size``) is read from memory once, not 12 times.
    The same operations in the same order as on the whole array: blocking changes no bit."""
    m *= b1
    m += xp.multiply(g, 1 - b1, out=step)
    v *= b2
    xp.multiply(g, g, out=step)
    step *= 1 - b2
    v += step
    xp.sqrt(v, out=denom)
    denom /= correction2
    denom += eps
    xp.multiply(m, rate, out=step)
    step /= denom
    theta -= step


class AdamW(Adam):
    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

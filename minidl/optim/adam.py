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
        # In place, through two scratch arrays: for a 12M-parameter layer the
        # temporaries of the plain expressions cost more than the arithmetic.
        step, denom = xp.empty_like(g), xp.empty_like(g)
        m *= b1
        m += xp.multiply(g, 1 - b1, out=step)
        v *= b2
        xp.multiply(g, g, out=step)
        step *= 1 - b2
        v += step
        xp.sqrt(v, out=denom)
        denom /= math.sqrt(1 - b2 ** t)
        denom += group["eps"]
        xp.multiply(m, lr / (1 - b1 ** t), out=step)
        step /= denom
        p.data -= step


class AdamW(Adam):
    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

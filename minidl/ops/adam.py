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

As PyTorch does, the bias corrections are folded into two scalars:
``η m̂ / (√v̂ + ε) = (η / (1 - β1^t)) m / (√v / √(1 - β2^t) + ε)``.

Shapes: param, grad, ``state["exp_avg"]`` (m) and ``state["exp_avg_sq"]`` (v)
all have the parameter's shape; ``state["step"]`` is t, counted from 1.
"""
import math
import sys

from minidl import backend
from minidl.ops import registry


def start_step(param, state):
    """Create the moments (zeros) on the first call and advance ``state["step"]``; return t."""
    if not state:
        xp = backend.get_array_module(param)
        state.update(step=0, exp_avg=xp.zeros_like(param), exp_avg_sq=xp.zeros_like(param))
    state["step"] += 1
    return state["step"]


def step_scalars(t, lr, betas):
    """``(η / (1 - β1^t), √(1 - β2^t))``: the bias corrections of step t."""
    b1, b2 = betas
    return lr / (1 - b1 ** t), math.sqrt(1 - b2 ** t)


def update(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
    """One Adam step (AdamW with ``decoupled=True``) of ``param`` in place; ``grad`` is not written to."""
    xp = backend.get_array_module(param)
    t = start_step(param, state)
    b1, b2 = betas
    g = grad
    if weight_decay and decoupled:
        param *= 1 - lr * weight_decay
    elif weight_decay:
        g = g + weight_decay * param  # a new array: the loss's gradient stays as it was
    m, v = state["exp_avg"], state["exp_avg_sq"]
    m *= b1
    m += g * (1 - b1)
    v *= b2
    v += (g * g) * (1 - b2)
    rate, correction2 = step_scalars(t, lr, betas)
    param -= (m * rate) / (xp.sqrt(v) / correction2 + eps)


CASES = [
    registry.Case("adam", (7, 5), lr=1e-2),
    registry.Case("adam-l2", (1,), lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
    registry.Case("adamw", (3, 4), lr=3e-2, betas=(0.5, 0.9), weight_decay=0.3, decoupled=True),
    # More than one cache block of the blocked host update, and a short last one.
    registry.Case("adamw-2-blocks", ((1 << 18) + 5,), lr=1e-2, weight_decay=1e-2, decoupled=True),
]
registry.define("adam", sys.modules[__name__], kind="optimizer", cases=CASES)

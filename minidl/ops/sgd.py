"""Stochastic gradient descent with momentum, PyTorch's update rule.

With gradient ``g``, learning rate ``η``, weight decay ``λ``, momentum ``μ``
and dampening ``τ``, one step is

    g ← g + λ θ                              (L2 weight decay)
    b ← g              on the first step,
    b ← μ b + (1 - τ) g afterwards           (momentum buffer)
    g ← g + μ b        with Nesterov, else  g ← b
    θ ← θ - η g

(Sutskever et al. 2013's form with the learning rate outside the buffer.)

Shapes: param, grad and the buffer ``state["momentum_buffer"]`` all have the
parameter's shape; ``state`` is the parameter's dict in the optimizer.
"""
import sys

from minidl.ops import registry


def update(param, grad, state, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    """One step of ``param`` in place; ``grad`` is not written to."""
    g = grad
    if weight_decay:
        g = g + weight_decay * param  # a new array: the loss's gradient stays as it was
    if momentum:
        buf = state.get("momentum_buffer")
        if buf is None:
            buf = state["momentum_buffer"] = g.copy()
        else:
            buf *= momentum
            buf += (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    param -= lr * g


CASES = [
    registry.Case("plain", (4, 3), lr=0.1),
    registry.Case("momentum-dampening-wd", (5,), lr=0.05, momentum=0.8, dampening=0.3, weight_decay=1e-3),
    registry.Case("nesterov-wd", (2, 3), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2),
]
registry.define("sgd", sys.modules[__name__], kind="optimizer", cases=CASES)

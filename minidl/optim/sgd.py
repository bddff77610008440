"""Stochastic gradient descent with momentum, PyTorch's update rule.

With gradient ``g``, learning rate ``η``, weight decay ``λ``, momentum ``μ``
and dampening ``τ``, one step is

    g ← g + λ θ                              (L2 weight decay)
    b ← g              on the first step,
    b ← μ b + (1 - τ) g afterwards           (momentum buffer)
    g ← g + μ b        with Nesterov, else  g ← b
    θ ← θ - η g

(Sutskever et al. 2013's form with the learning rate outside the buffer.)
"""
from minidl.optim.optimizer import Optimizer


class SGD(Optimizer):
    def __init__(self, params, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def _check_group(self, group):
        super()._check_group(group)
        for name in ("momentum", "weight_decay"):
            if not group[name] >= 0:
                raise ValueError(f"{name} must be >= 0, got {group[name]}")
        if not 0 <= group["dampening"] <= 1:
            raise ValueError(f"dampening must be in [0, 1], got {group['dampening']}")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("nesterov needs momentum > 0 and dampening = 0")

    def _update(self, p, group, state):
        g = p.grad
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p.data  # a new array: p.grad stays the loss's gradient
        mu = group["momentum"]
        if mu:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.copy()
            else:
                buf *= mu
                buf += (1 - group["dampening"]) * g
            g = g + mu * buf if group["nesterov"] else buf
        p.data -= group["lr"] * g

"""Stochastic gradient descent with momentum, PyTorch's update rule.

The update (L2 weight decay, momentum buffer with dampening, Nesterov) is the
op's reference, ``minidl/ops/sgd.py``; this class holds the parameter groups
and checks their hyper-parameters.
"""
from minidl.optim.optimizer import Optimizer


class SGD(Optimizer):
    op = "sgd"

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

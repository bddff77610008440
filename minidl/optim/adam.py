"""Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019), PyTorch's update rules.

The update is the op's reference, ``minidl/ops/adam.py`` (one op: AdamW is
Adam with ``decoupled=True`` weight decay). On the host the default runs it in
cache-sized blocks (``minidl/fast_cpu/adam_blocked.py``), on a GPU as one fused
kernel (``minidl/kernels/adam.cu``); both give what the reference gives.
"""
from minidl.optim.optimizer import Optimizer


class Adam(Optimizer):
    """Adam: weight decay ``λθ`` added to the gradient (L2 regularisation)."""

    op = "adam"
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

    def hyper(self, group):
        return {**super().hyper(group), "decoupled": self.decoupled}


class AdamW(Adam):
    """AdamW: the weights shrink by ``1 - ηλ`` before the Adam step (decoupled decay)."""

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

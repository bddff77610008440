"""Batch normalisation layers (Ioffe & Szegedy 2015): BatchNorm2d and BatchNorm1d.

The math is ``minidl/ops/batch_norm.py``. The layer holds gamma (``weight``),
beta (``bias``) and the running statistics, which it moves in training towards
the batch statistics the op returns, with the unbiased variance var * M/(M-1),
as PyTorch does:

    running = (1 - momentum) * running + momentum * batch_statistic
"""
from minidl import backend, init
from minidl.layers.op_layer import OpLayer
from minidl.module import Parameter
from minidl.ops import batch_norm


class _BatchNorm(OpLayer):
    """Shared code: inputs are viewed as (N, C, L) and reduced over axes 0 and 2."""

    op = "batch_norm"
    param_names = ("weight", "bias")
    buffer_names = ("running_mean", "running_var")

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        if not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"num_features must be a positive int, got {num_features!r}")
        if not eps > 0:
            raise ValueError(f"eps must be positive, got {eps!r}")
        if not 0 <= momentum <= 1:
            raise ValueError(f"momentum must be in [0, 1], got {momentum!r}")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = Parameter(init.ones(num_features))
        self.bias = Parameter(init.zeros(num_features))
        self.register_buffer("running_mean", init.zeros(num_features))
        self.register_buffer("running_var", init.ones(num_features))
        # int64, like PyTorch's, so a converted PyTorch state_dict loads strictly.
        self.register_buffer("num_batches_tracked", backend.xp().zeros((), dtype="int64"))

    def _check(self, x):
        raise NotImplementedError

    def hyper(self):
        return dict(training=self.training, eps=self.eps)

    def forward(self, x):
        self._check(x)
        y, _, stats = self.run_forward(x)
        if stats is not None:
            self._update_running(*stats)
        return y

    check_batch = staticmethod(batch_norm.check_batch)

    def _update_running(self, mean, var, m):
        mo = self.momentum
        self.running_mean *= 1 - mo
        self.running_mean += mo * mean
        self.running_var *= 1 - mo
        self.running_var += (mo * m / (m - 1)) * var
        self.num_batches_tracked += 1

    def backward(self, dy):
        dx = super().backward(dy)
        self.free_saved()  # a fast backward may have used its saved state up in place
        return dx

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm2d(_BatchNorm):
    """Batch norm over images: x (N, C, H, W) -> y (N, C, H, W), statistics per channel."""

    def _check(self, x):
        if x.ndim != 4 or x.shape[1] != self.num_features:
            raise ValueError(f"x must have shape (N, {self.num_features}, H, W), got {x.shape}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over features: x (N, C) or (N, C, L) -> same shape, statistics per channel C."""

    def _check(self, x):
        if x.ndim not in (2, 3) or x.shape[1] != self.num_features:
            raise ValueError(f"x must have shape (N, {self.num_features}) or (N, {self.num_features}, L), "
                             f"got {x.shape}")

"""Batch normalisation (Ioffe & Szegedy 2015): BatchNorm2d and BatchNorm1d.

Per channel c, over the M = N*H*W values x_i of that channel in the batch:

    mu = mean(x_i)        var = mean((x_i - mu)^2)        r = 1/sqrt(var + eps)
    xhat_i = (x_i - mu) * r           y_i = gamma * xhat_i + beta

Backward. With g_i = dL/dy_i, the parameter gradients are sums over the channel:

    dL/dbeta = sum(g_i)               dL/dgamma = sum(g_i * xhat_i)

For the input, mu and var depend on every x_j, so (with dxhat_i = gamma * g_i)

    dL/dx_j = r * (dxhat_j - mean(dxhat_i) - xhat_j * mean(dxhat_i * xhat_i))

(dxhat_j reaches x_j directly with factor r; the mean term comes from
dmu/dx_j = 1/M; the last from dvar/dx_j = 2(x_j - mu)/M). Substituting
dxhat = gamma * g and the parameter gradients above gives the compact form

    dL/dx_j = gamma * r * (g_j - dbeta/M - xhat_j * dgamma/M)

In eval mode mu and var are the running statistics, constants, so simply
dL/dx = gamma * r * g. The running statistics are updated in training with
the unbiased variance var * M/(M-1), as PyTorch does:

    running = (1 - momentum) * running + momentum * batch_statistic
"""
from minidl import backend, init
from minidl.kernels import device_layers
from minidl.module import Module, Parameter


class _BatchNorm(Module):
    """Shared code: inputs are viewed as (N, C, L) and reduced over axes 0 and 2."""

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

    def forward(self, x):
        self._check(x)
        if backend.is_device_array(x):  # GPU: minidl/kernels/batchnorm.cu
            return device_layers.batchnorm_forward(self, x)
        xp = backend.get_array_module(x)
        n, c = x.shape[:2]
        x3 = x.reshape(n, c, -1)
        m = x3.shape[0] * x3.shape[2]
        if self.training:
            mean, xc, var = self._batch_statistics(x3)
        else:
            mean = self.running_mean.astype(x.dtype, copy=False)
            var = self.running_var.astype(x.dtype, copy=False)
            xc = x3 - mean[:, None]
        inv_std = 1 / xp.sqrt(var + self.eps)
        gamma = self.weight.data.astype(x.dtype, copy=False)
        # Keep the centred input, not xhat: y then takes one multiply, not two.
        y = xc * (gamma * inv_std)[:, None]
        y += self.bias.data.astype(x.dtype, copy=False)[:, None]
        self.save_for_backward(xc, inv_std, gamma, m, self.training)
        return y.reshape(x.shape)

    def _batch_statistics(self, x3):
        """Per-channel mean (C,), centred input (N, C, L) and biased variance (C,) of x3 (N, C, L);
        the running statistics move towards them (with the unbiased variance, as in PyTorch)."""
        m = x3.shape[0] * x3.shape[2]
        self.check_batch(m)
        mean = x3.sum(axis=(0, 2)) / m
        xc = x3 - mean[:, None]
        var = backend.get_array_module(x3).einsum("ncl,ncl->c", xc, xc) / m
        self._update_running(mean, var, m)
        return mean, xc, var

    @staticmethod
    def check_batch(m):
        """Training statistics need more than one value per channel (an unbiased variance)."""
        if m < 2:
            raise ValueError(f"x needs more than one value per channel in training, got {m}")

    def _update_running(self, mean, var, m):
        mo = self.momentum
        self.running_mean *= 1 - mo
        self.running_mean += mo * mean
        self.running_var *= 1 - mo
        self.running_var += (mo * m / (m - 1)) * var
        self.num_batches_tracked += 1

    def backward(self, dy):
        if backend.is_device_array(dy):
            return device_layers.batchnorm_backward(self, dy)
        xp = backend.get_array_module(dy)
        xc, inv_std, gamma, m, training = self.saved()
        g = dy.reshape(xc.shape)
        dbeta = g.sum(axis=(0, 2))
        dgamma = xp.einsum("ncl,ncl->c", g, xc) * inv_std
        self.bias.grad += dbeta
        self.weight.grad += dgamma
        scale = (gamma * inv_std)[:, None]
        if not training:
            return (g * scale).reshape(dy.shape)
        # gamma*r*(g - dbeta/M - xhat*dgamma/M), with xhat = xc*r, computed in
        # xc's own memory: the cache is used up here, and a fresh 4-D array
        # would cost more in page faults than the arithmetic does.
        self.free_saved()
        dx = xc
        dx *= (-(inv_std * dgamma) / m)[:, None]
        dx += g
        dx -= (dbeta / m)[:, None]
        dx *= scale
        return dx.reshape(dy.shape)

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

"""Batch normalisation (Ioffe & Szegedy 2015), per channel, for BatchNorm1d and BatchNorm2d.

Shapes: x (N, C, *) viewed as (N, C, L); weight gamma, bias beta, running_mean,
running_var all (C,). Per channel c, over the M = N*L values x_i of the batch:

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

In eval mode (``training=False``) mu and var are the running statistics,
constants, so simply dL/dx = gamma * r * g. In training, forward also returns
the batch statistics (mu, var, M): the layer moves its running statistics
towards them (``minidl.layers.batchnorm``), with the unbiased variance var * M/(M-1).

Fast versions: ``minidl/fast_cpu/batch_norm_inplace.py``, ``minidl/kernels/batchnorm.cu``.
"""
import sys

from minidl import backend
from minidl.ops import registry


def check_batch(m):
    """Training statistics need more than one value per channel (an unbiased variance)."""
    if m < 2:
        raise ValueError(f"x needs more than one value per channel in training, got {m}")


def forward(x, weight, bias, running_mean, running_var, *, training=True, eps=1e-5, **_):
    xp = backend.get_array_module(x)
    n, c = x.shape[:2]
    x3 = x.reshape(n, c, -1)
    m = n * x3.shape[2]
    if training:
        check_batch(m)
        mean = x3.mean(axis=(0, 2))
        var = ((x3 - mean[:, None]) ** 2).mean(axis=(0, 2))
        stats = (mean, var, m)
    else:
        mean, var = running_mean.astype(x.dtype, copy=False), running_var.astype(x.dtype, copy=False)
        stats = None
    inv_std = 1 / xp.sqrt(var + eps)
    xhat = (x3 - mean[:, None]) * inv_std[:, None]
    gamma = weight.astype(x.dtype, copy=False)
    y = xhat * gamma[:, None] + bias.astype(x.dtype, copy=False)[:, None]
    return y.reshape(x.shape), (xhat, inv_std, gamma, m, training), stats


def backward(dy, saved, **_):
    xhat, inv_std, gamma, m, training = saved
    g = dy.reshape(xhat.shape)
    dbeta = g.sum(axis=(0, 2))
    dgamma = (g * xhat).sum(axis=(0, 2))
    if training:
        g = g - dbeta[:, None] / m - xhat * (dgamma[:, None] / m)
    return (g * (gamma * inv_std)[:, None]).reshape(dy.shape), dgamma, dbeta


C = registry.Case
CASES = [
    C("2-d images, training", (3, 4, 5, 6), [(4,), (4,)], buffers=[(4,), (4,)]),
    C("batch 1 images, training", (1, 3, 5, 7), [(3,), (3,)], buffers=[(3,), (3,)]),
    C("eval: running statistics", (2, 3, 4, 4), [(3,), (3,)], buffers=[(3,), (3,)], training=False),
    C("1-d features, training", (6, 5), [(5,), (5,)], buffers=[(5,), (5,)]),
    C("1-d sequences (N, C, L), eps 1e-3", (2, 3, 7), [(3,), (3,)], buffers=[(3,), (3,)], eps=1e-3),
]
registry.define("batch_norm", sys.modules[__name__], cases=CASES)

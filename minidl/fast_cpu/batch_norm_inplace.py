"""Fast CPU batch norm: the centred input kept instead of xhat, and dx computed in its memory.

The math is ``minidl/ops/batch_norm.py``. Two savings on large activations:

* forward keeps xc = x - mu rather than xhat = xc * r, so y = xc * (gamma*r) + beta
  takes one multiply per element, not two; the variance is one ``einsum``
  over xc, without a squared temporary;
* backward computes gamma*r*(g - dbeta/M - xhat*dgamma/M), with xhat = xc*r, in
  xc's own memory: the saved state is used up there, and a fresh 4-D array
  would cost more in page faults than the arithmetic does. So a second
  backward through the same forward is not possible (the layer drops its
  saved state after backward, on every implementation).
"""
import sys

from minidl import backend
from minidl.ops import batch_norm, registry


def forward(x, weight, bias, running_mean, running_var, *, training=True, eps=1e-5, **_):
    xp = backend.get_array_module(x)
    n, c = x.shape[:2]
    x3 = x.reshape(n, c, -1)
    m = x3.shape[0] * x3.shape[2]
    if training:
        batch_norm.check_batch(m)
        mean = x3.sum(axis=(0, 2)) / m
        xc = x3 - mean[:, None]
        var = xp.einsum("ncl,ncl->c", xc, xc) / m
        stats = (mean, var, m)
    else:
        mean = running_mean.astype(x.dtype, copy=False)
        var = running_var.astype(x.dtype, copy=False)
        xc = x3 - mean[:, None]
        stats = None
    inv_std = 1 / xp.sqrt(var + eps)
    gamma = weight.astype(x.dtype, copy=False)
    y = xc * (gamma * inv_std)[:, None]
    y += bias.astype(x.dtype, copy=False)[:, None]
    return y.reshape(x.shape), [xc, inv_std, gamma, m, training], stats


def backward(dy, saved, **_):
    xp = backend.get_array_module(dy)
    xc, inv_std, gamma, m, training = saved
    g = dy.reshape(xc.shape)
    dbeta = g.sum(axis=(0, 2))
    dgamma = xp.einsum("ncl,ncl->c", g, xc) * inv_std
    scale = (gamma * inv_std)[:, None]
    if not training:
        return (g * scale).reshape(dy.shape), dgamma, dbeta
    saved.clear()  # xc becomes dx: nothing is left to go back through twice
    dx = xc
    dx *= (-(inv_std * dgamma) / m)[:, None]
    dx += g
    dx -= (dbeta / m)[:, None]
    dx *= scale
    return dx.reshape(dy.shape), dgamma, dbeta


registry.register("batch_norm", device="cpu", name="inplace_centred", impl=sys.modules[__name__])

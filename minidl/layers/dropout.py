"""Dropout layers; both are the identity in eval mode (returning a copy: no
module's output aliases its input). Any input shape.

Dropout (inverted): each element is kept with probability q = 1 - p and scaled
by 1/q, so E[y] = x and eval needs no rescaling:

    y = x * m / q,  m ~ Bernoulli(q)         dL/dx = dL/dy * m / q

AlphaDropout (Klambauer et al. 2017) is for SELU networks, where zero is not
the "off" value: dropped units take SELU's saturation value a' = -scale*alpha,
and an affine map a*z + b restores zero mean and unit variance. For x with mean
0 and variance 1, z = x*m + a'(1 - m) has E[z] = (1-q) a' and
Var[z] = q + q (1-q) a'^2, hence

    a = (q + a'^2 q (1-q))^(-1/2)      b = -a (1-q) a'
    y = a (x*m + a'(1 - m)) + b         dL/dx = dL/dy * a * m
"""
from minidl import backend, rng
from minidl.layers.activations import SELU
from minidl.module import Module


def _check_p(p):
    if not 0 <= p < 1:
        raise ValueError(f"p must be in [0, 1), got {p!r}")
    return float(p)


def _keep_mask(x, p):
    """Bernoulli(1 - p) mask with the shape of x, from minidl's seeded generator."""
    return rng.uniform_like(x) >= p


class Dropout(Module):
    """Inverted dropout: zero each element with probability p, scale the rest by 1/(1-p)."""

    def __init__(self, p=0.5):
        super().__init__()
        self.p = _check_p(p)

    def forward(self, x):
        if not self.training or self.p == 0:
            self.save_for_backward(None)
            return x.copy()
        scale = _keep_mask(x, self.p).astype(x.dtype)
        scale *= 1 / (1 - self.p)
        self.save_for_backward(scale)
        return x * scale

    def backward(self, dy):
        (scale,) = self.saved()
        return dy if scale is None else dy * scale

    def extra_repr(self):
        return f"p={self.p}"


class AlphaDropout(Dropout):
    """Dropout for SELU networks: dropped units saturate, then an affine map keeps mean and variance.

    Shares ``Dropout``'s backward: both multiply dy by the stored per-element scale.
    """

    saturation = -SELU.scale * SELU.alpha

    def forward(self, x):
        if not self.training or self.p == 0:
            self.save_for_backward(None)
            return x.copy()
        xp = backend.get_array_module(x)
        q, s = 1 - self.p, self.saturation
        a = (q + s * s * q * (1 - q)) ** -0.5
        b = -a * (1 - q) * s
        keep = _keep_mask(x, self.p)
        scale = keep.astype(x.dtype) * a
        self.save_for_backward(scale)
        offset = xp.where(keep, b, a * s + b).astype(x.dtype, copy=False)
        return x * scale + offset

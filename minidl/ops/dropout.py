"""Inverted dropout, any shape; the identity (a copy: no output aliases its input) in eval mode.

Each element is kept with probability q = 1 - p and scaled by 1/q, so E[y] = x
and eval needs no rescaling:

    y = x * m / q,  m ~ Bernoulli(q)         dL/dx = dL/dy * m / q

The keep mask m (bool, x's shape) comes from minidl's seeded generator
(``minidl.rng``) unless the caller passes one, so runs are reproducible.
"""
import sys

from minidl import rng
from minidl.ops import registry


def keep_mask(x, p):
    """Bernoulli(1 - p) mask with the shape of x, from minidl's seeded generator."""
    return rng.uniform_like(x) >= p


def forward(x, *, p=0.5, training=True, mask=None, **_):
    if not training or p == 0:
        return x.copy(), None
    scale = (keep_mask(x, p) if mask is None else mask).astype(x.dtype)
    scale *= 1 / (1 - p)
    return x * scale, scale


def backward(dy, scale, **_):
    return (dy if scale is None else dy * scale,)


CASES = [registry.Case("p=0.3, training", (4, 6), p=0.3),
         registry.Case("eval: identity", (2, 3, 4), p=0.5, training=False)]
registry.define("dropout", sys.modules[__name__], cases=CASES)

"""Alpha dropout (Klambauer et al. 2017), for SELU networks; the identity (a copy) in eval mode.

Zero is not SELU's "off" value: dropped units take its saturation value
a' = -scale*alpha, and an affine map a*z + b restores zero mean and unit
variance. For x with mean 0 and variance 1, z = x*m + a'(1 - m) with
m ~ Bernoulli(q), q = 1 - p, has E[z] = (1-q) a' and Var[z] = q + q (1-q) a'^2, hence

    a = (q + a'^2 q (1-q))^(-1/2)      b = -a (1-q) a'
    y = a (x*m + a'(1 - m)) + b         dL/dx = dL/dy * a * m

The keep mask m comes from ``minidl.rng`` unless the caller passes one.
"""
import sys

from minidl import backend
from minidl.ops import dropout, registry, selu

SATURATION = -selu.SCALE * selu.ALPHA


def forward(x, *, p=0.5, training=True, mask=None, **_):
    if not training or p == 0:
        return x.copy(), None
    xp = backend.get_array_module(x)
    q, s = 1 - p, SATURATION
    a = (q + s * s * q * (1 - q)) ** -0.5
    b = -a * (1 - q) * s
    keep = dropout.keep_mask(x, p) if mask is None else mask
    scale = keep.astype(x.dtype) * a
    offset = xp.where(keep, b, a * s + b).astype(x.dtype, copy=False)
    return x * scale + offset, scale


backward = dropout.backward  # both multiply dy by the stored per-element scale

CASES = [registry.Case("p=0.2, training", (5, 4), p=0.2),
         registry.Case("eval: identity", (2, 3), p=0.5, training=False)]
registry.define("alpha_dropout", sys.modules[__name__], cases=CASES)

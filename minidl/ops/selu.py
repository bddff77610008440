"""SELU, the self-normalising ELU (Klambauer et al. 2017), element-wise, with PyTorch's constants:

    y = scale * x                   (x > 0)     dy/dx = scale
    y = scale * alpha (e^x - 1)     (x <= 0)    dy/dx = scale * alpha e^x = y + scale * alpha

The constants make N(0, 1) a fixed point of the layer's mean and variance, so
deep SELU networks stay normalised without batch norm.
"""
import sys

from minidl import backend
from minidl.ops import registry

ALPHA = 1.6732632423543772
SCALE = 1.0507009873554805


def forward(x, **_):
    xp = backend.get_array_module(x)
    positive = x > 0
    # expm1 of min(x, 0): never overflows, and is exact near 0.
    y = xp.where(positive, x, ALPHA * xp.expm1(xp.minimum(x, 0)))
    y *= SCALE
    return y, (positive, y)


def backward(dy, saved, **_):
    xp = backend.get_array_module(dy)
    positive, y = saved
    slope = xp.where(positive, SCALE, y + SCALE * ALPHA)
    return (dy * slope.astype(dy.dtype, copy=False),)


CASES = [registry.Case("4-d", (2, 3, 4, 5)), registry.Case("2-d, batch 1", (1, 7))]
registry.define("selu", sys.modules[__name__], cases=CASES)

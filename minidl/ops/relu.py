"""ReLU, element-wise on any shape:

    y = max(x, 0)          dL/dx = dL/dy * (1 if x > 0 else 0)

The gradient at the kink x = 0 is taken as 0, as in PyTorch.
Fast version: ``minidl/kernels/relu.cu`` (one thread per element).
"""
import sys

from minidl import backend
from minidl.ops import registry


def forward(x, **_):
    positive = x > 0  # a bool mask is a quarter of a float32 copy
    return backend.get_array_module(x).maximum(x, 0), positive


def backward(dy, positive, **_):
    return (dy * positive,)


CASES = [registry.Case("4-d, odd sizes", (3, 5, 7, 9)), registry.Case("2-d, batch 1", (1, 13))]
registry.define("relu", sys.modules[__name__], cases=CASES)

"""Fast CPU linear forward: y = (W x^T)^T instead of x W^T.

The math is ``minidl/ops/linear.py``; backward is the reference's. For a wide
layer and a small batch (32768 -> 128, batch 32) OpenBLAS runs x @ W^T, whose
second operand is the transposed weight, 3-7x slower on 2 threads than
W @ x^T; the result is made contiguous again.
"""
import sys

from minidl import backend
from minidl.ops import linear, registry

backward = linear.backward


def forward(x, weight, bias=None, **_):
    xp = backend.get_array_module(x)
    y = xp.ascontiguousarray((weight.astype(x.dtype, copy=False) @ x.T).T)
    if bias is not None:
        y += bias.astype(x.dtype, copy=False)
    return y, (x, weight, bias is not None)


registry.register("linear", device="cpu", name="transposed_product", impl=sys.modules[__name__])
registry.register("linear", device="gpu", name="transposed_product", impl=sys.modules[__name__])  # as before the split

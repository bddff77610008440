"""Fully connected layer: y = x W^T + b.

Shapes: x (N, in), W (out, in) as in PyTorch, b (out,) or None, y (N, out).

Backward, with g = dL/dy (N, out): each y[n, o] = sum_i x[n, i] W[o, i] + b[o], so

    dL/dW = g^T x   (out, in)     dL/db = sum_n g[n]   (out,)     dL/dx = g W   (N, in)

Fast version: ``minidl/fast_cpu/linear_transposed.py`` (the product's orientation for OpenBLAS).
"""
import sys

from minidl.ops import registry


def forward(x, weight, bias=None, **_):
    y = x @ weight.astype(x.dtype, copy=False).T
    if bias is not None:
        y += bias.astype(x.dtype, copy=False)
    return y, (x, weight, bias is not None)


def backward(dy, saved, **_):
    x, weight, has_bias = saved
    return dy @ weight.astype(dy.dtype, copy=False), dy.T @ x, dy.sum(axis=0) if has_bias else None


CASES = [registry.Case("batch 3", (3, 5), [(4, 5), (4,)]), registry.Case("batch 1, no bias", (1, 6), [(2, 6), None])]
registry.define("linear", sys.modules[__name__], cases=CASES)

"""Adaptive average pooling to a fixed (oh, ow) map, whatever the input size (VGG's 7x7).

PyTorch's bins: output row i averages input rows [floor(i*H/oh), ceil((i+1)*H/oh))
(bins overlap when oh does not divide H), likewise columns. With A_h (oh, H)
holding 1/len(bin) on each bin, and A_w (ow, W) likewise, pooling is two products

    y[n, c] = A_h @ x[n, c] @ A_w^T          dL/dx[n, c] = A_h^T @ dL/dy[n, c] @ A_w

(N, C, H, W) -> (N, C, oh, ow); an identity when (oh, ow) == (H, W).
"""
import sys

from minidl import backend
from minidl.ops import registry


def bin_matrix(xp, size, out, dtype):
    """(out, size): row i is 1/len on PyTorch's adaptive bin i of ``size`` positions, 0 elsewhere."""
    i = xp.arange(out)
    start, end = (i * size) // out, -((-(i + 1) * size) // out)
    pos = xp.arange(size)
    inside = (pos[None, :] >= start[:, None]) & (pos[None, :] < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


def forward(x, *, output_size, **_):
    xp = backend.get_array_module(x)
    (oh, ow), (h, w) = output_size, x.shape[2:]
    rows, cols = bin_matrix(xp, h, oh, x.dtype), bin_matrix(xp, w, ow, x.dtype)
    return rows @ x @ cols.T, (rows, cols)


def backward(dy, saved, **_):
    rows, cols = saved
    return (rows.T @ dy @ cols,)


CASES = [registry.Case("7x5 -> 3x2, overlapping bins", (2, 3, 7, 5), output_size=(3, 2)),
         registry.Case("batch 1, identity size", (1, 2, 4, 4), output_size=(4, 4))]
registry.define("adaptive_avg_pool2d", sys.modules[__name__], cases=CASES)

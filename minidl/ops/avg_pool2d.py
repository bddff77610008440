"""Average pooling over (kh, kw) windows with stride (sh, sw) and zero padding (ph, pw), on NCHW.

Shapes: x (N, C, H, W) -> y (N, C, Ho, Wo), Ho = (H + 2*ph - kh) // sh + 1 (floor).

    y[n, c, r, s] = (1 / D[r, s]) sum_{i,j} xpad[n, c, r*sh + i, s*sw + j]

As in PyTorch, ``count_include_pad=True`` (the default) divides every window by
D = kh*kw, padded zeros included; ``count_include_pad=False`` by the number of
real pixels in the window, D[r, s] = the window sum of a padded all-ones image.
Every input of a window receives dy / D[r, s]: backward adds that share onto
one strided slice of xpad per kernel offset (i, j), as max pooling does.

Fast version: ``minidl/fast_cpu/window_pool.py`` (chunked offsets).
"""
import sys

from minidl import backend
from minidl.ops import geometry, registry


def divisor(x_shape, kernel_size, stride, padding, count_include_pad, xp, dtype):
    """D: kh*kw, or the (Ho, Wo) counts of real pixels per window."""
    if count_include_pad:
        return kernel_size[0] * kernel_size[1]
    ones = geometry.pad(xp.ones((1, 1) + tuple(x_shape[2:]), dtype=dtype), padding)
    return geometry.windows(ones, kernel_size, stride).sum(axis=(4, 5))[0, 0]


def forward(x, *, kernel_size, stride, padding, count_include_pad=True, **_):
    xp = backend.get_array_module(x)
    windows = geometry.windows(geometry.pad(x, padding), kernel_size, stride)  # (N, C, Ho, Wo, kh, kw)
    d = divisor(x.shape, kernel_size, stride, padding, count_include_pad, xp, x.dtype)
    return windows.sum(axis=(4, 5)) / d, (x.shape, d)


def backward(dy, saved, *, kernel_size, stride, padding, **_):
    (n, c, h, w), d = saved
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    ho, wo = dy.shape[2:]
    share = dy / d
    dxpad = backend.get_array_module(dy).zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=dy.dtype)
    for i in range(kh):
        for j in range(kw):
            dxpad[:, :, i:i + sh * ho:sh, j:j + sw * wo:sw] += share
    return (dxpad[:, :, ph:ph + h, pw:pw + w],)


# (label, x, kernel, stride, padding, count_include_pad)
CASES = [geometry.window_case(label, x, k, s, p, count_include_pad=include) for label, x, k, s, p, include in [
    ("2x2 stride 2, batch 2", (2, 3, 8, 6), 2, 2, 0, True),
    ("3x3 stride 2 pad 1, odd, batch 1", (1, 2, 7, 9), 3, 2, 1, True),
    ("3x3 stride 2 pad 1, padding not counted", (2, 2, 7, 6), 3, 2, 1, False),
    ("3x3 stride 1 pad 1, padding not counted", (1, 3, 5, 5), 3, 1, 1, False),
    ("3x3 stride 1, overlapping", (2, 2, 6, 5), 3, 1, 0, True),
]]
registry.define("avg_pool2d", sys.modules[__name__], cases=CASES)

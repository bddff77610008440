"""Max pooling over (kh, kw) windows with stride (sh, sw) and padding (ph, pw), on NCHW images.

Shapes: x (N, C, H, W) -> y (N, C, Ho, Wo), Ho = (H + 2*ph - kh) // sh + 1 (floor,
like PyTorch's ceil_mode=False: a partial window at the border is dropped).

    y[n, c, r, s] = max_{i,j} xpad[n, c, r*sh + i, s*sw + j]

padding with -inf, so a padded pixel never wins. The gradient of each output
flows to the one input that won, its window's argmax a[n, c, r, s] = i*kw + j:
the first maximum in window order (i, then j), so on ties exactly one input
per window receives dy, as in PyTorch. Backward scatters dy back, one kernel
offset at a time: for offset (i, j) the winners' positions form one strided
slice of xpad, each pixel at most once, and overlapping windows add up.

Fast versions: ``minidl/fast_cpu/pool2x2.py`` (2x2 windows, stride 2),
``minidl/fast_cpu/window_pool.py`` (chunked offsets), ``minidl/kernels/maxpool.cu``.
"""
import sys

from minidl import backend
from minidl.ops import geometry, registry


def forward(x, *, kernel_size, stride, padding, **_):
    xp = backend.get_array_module(x)
    windows = geometry.windows(geometry.pad(x, padding, -float("inf")), kernel_size, stride)
    flat = windows.reshape(windows.shape[:4] + (-1,))  # (N, C, Ho, Wo, kh*kw)
    argmax = flat.argmax(axis=4)
    y = xp.take_along_axis(flat, argmax[..., None], axis=4)[..., 0]
    return y, (argmax, x.shape)


def backward(dy, saved, *, kernel_size, stride, padding, **_):
    argmax, (n, c, h, w) = saved
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    ho, wo = dy.shape[2:]
    dxpad = backend.get_array_module(dy).zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=dy.dtype)
    for i in range(kh):
        for j in range(kw):
            dxpad[:, :, i:i + sh * ho:sh, j:j + sw * wo:sw] += dy * (argmax == i * kw + j)
    return (dxpad[:, :, ph:ph + h, pw:pw + w],)


_case = geometry.window_case
CASES = [
    _case("2x2 stride 2, batch 2", (2, 3, 8, 6), 2, 2, 0),
    _case("2x2 stride 2, odd sizes, batch 1", (1, 2, 7, 9), 2, 2, 0),
    _case("2x2 stride 2, ties", (2, 3, 6, 8), 2, 2, 0, ties=True),
    _case("2x2 stride 2, odd sizes, ties", (1, 2, 5, 7), 2, 2, 0, ties=True),
    _case("3x3 stride 2, overlapping", (2, 3, 7, 9), 3, 2, 0),
    _case("3x3 stride 2 pad 1, ties", (2, 2, 7, 6), 3, 2, 1, ties=True),
    _case("3x3 stride 1 pad 1", (1, 2, 5, 6), 3, 1, 1),
    _case("rectangular (2, 3), stride (1, 2)", (2, 2, 6, 7), (2, 3), (1, 2), 0),
]
registry.define("max_pool2d", sys.modules[__name__], cases=CASES)

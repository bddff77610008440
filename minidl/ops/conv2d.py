"""2-D convolution (cross-correlation, as in every deep-learning library), the textbook way.

Shapes: x (N, C, H, W), weight W (O, C, kh, kw), bias b (O,) or None,
y (N, O, Ho, Wo) with Ho = (H + 2*ph - kh) // sh + 1 (likewise Wo). With zero padding,

    y[n, o, r, s] = b[o] + sum_{c,i,j} W[o, c, i, j] * xpad[n, c, r*sh + i, s*sw + j]

im2col turns this into ONE matrix product: every window becomes a row of

    cols[(n, r, s), (c, i, j)] = xpad[n, c, r*sh + i, s*sw + j]        (N*Ho*Wo, C*kh*kw)

and with W as an (O, C*kh*kw) matrix Wm,

    Y = cols @ Wm^T + b           (N*Ho*Wo, O), reordered to y (N, O, Ho, Wo)

Backward, with G = dL/dY (N*Ho*Wo, O), is the algebra of a dense layer:

    dL/dW = G^T @ cols        dL/db = sum of G over its rows
    dL/dcols = G @ Wm         dL/dx = col2im(dL/dcols)

col2im adds every entry of dL/dcols back onto the pixel it was copied from:
for each kernel offset (i, j) the pixels read form one strided slice of xpad,
hit once each, so kh*kw slice additions make the whole scatter.
``input_grad=False`` (a first layer, whose input is data) skips dL/dx.

Fast versions: ``minidl/fast_cpu/conv_folded.py`` (folded im2col in chunks),
``minidl/kernels/device_layers.py`` (CUDA im2col/col2im).
"""
import sys

from minidl import backend
from minidl.ops import geometry, registry


def forward(x, weight, bias=None, *, stride=(1, 1), padding=(0, 0), **_):
    xp = backend.get_array_module(x)
    n, o = x.shape[0], weight.shape[0]
    windows = geometry.windows(geometry.pad(x, padding), weight.shape[2:], stride)  # (N, C, Ho, Wo, kh, kw)
    ho, wo = windows.shape[2:4]
    cols = windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, -1)
    w = weight.astype(x.dtype, copy=False).reshape(o, -1)
    y = cols @ w.T
    if bias is not None:
        y += bias.astype(x.dtype, copy=False)
    y = xp.ascontiguousarray(y.reshape(n, ho, wo, o).transpose(0, 3, 1, 2))
    return y, (cols, w, x.shape, weight.shape, stride, padding, bias is not None)


def backward(dy, saved, *, input_grad=True, **_):
    xp = backend.get_array_module(dy)
    cols, w, x_shape, w_shape, (sh, sw), (ph, pw), has_bias = saved
    n, o, ho, wo = dy.shape
    g = dy.transpose(0, 2, 3, 1).reshape(-1, o)                       # G (N*Ho*Wo, O)
    dweight = (g.T @ cols).reshape(w_shape)
    dbias = g.sum(axis=0) if has_bias else None
    if not input_grad:
        return None, dweight, dbias
    kh, kw = w_shape[2:]
    dcols = (g @ w).reshape(n, ho, wo, x_shape[1], kh, kw)
    h, w_ = x_shape[2:]
    dxpad = xp.zeros((n, x_shape[1], h + 2 * ph, w_ + 2 * pw), dtype=dy.dtype)
    for i in range(kh):
        for j in range(kw):
            dxpad[:, :, i:i + sh * ho:sh, j:j + sw * wo:sw] += dcols[..., i, j].transpose(0, 3, 1, 2)
    return dxpad[:, :, ph:ph + h, pw:pw + w_], dweight, dbias


C = registry.Case
CASES = [
    C("3x3 pad 1, batch 2", (2, 3, 5, 6), [(4, 3, 3, 3), (4,)], padding=(1, 1)),
    C("stride 2, odd sizes, batch 1", (1, 2, 7, 9), [(3, 2, 3, 3), (3,)], stride=(2, 2)),
    C("rectangular 2x3, stride (2,1), pad (1,0)", (2, 3, 6, 5), [(5, 3, 2, 3), (5,)], stride=(2, 1), padding=(1, 0)),
    C("folded shape: C*kh >= O, no bias", (2, 4, 6, 6), [(3, 4, 3, 3), None], padding=(1, 1)),
    C("5x5 kernel, pad 2", (1, 2, 7, 6), [(3, 2, 5, 5), (3,)], padding=(2, 2)),
    C("1x1 kernel", (2, 3, 4, 5), [(2, 3, 1, 1), (2,)]),
    C("first layer: no input gradient", (2, 3, 6, 6), [(4, 3, 3, 3), (4,)], padding=(1, 1), input_grad=False),
]
registry.define("conv2d", sys.modules[__name__], cases=CASES)

"""Direct convolution for layers with 1-2 input channels (a first layer), stride 1: no im2col.

A first layer (2-4 stains) has a short im2col inner dimension K = C*kh*kw
(50 for the parallel LeNet's 5x5 2 -> 16) and columns K times bigger than its
input: copying them is bound by memory bandwidth, and a matrix product with
K = 50 or O = 16 runs at a fraction of BLAS's peak. Here the sums run straight
from the padded input xpad (N, C, Hp, Wp), a row of the output at a time,
every loop over the output columns s vectorized by LLVM:

    y[n, o, r, :]   = sum_{c,i,j} W[o, c, i, j] * xpad[n, c, r + i, j : j + Wo]   (+ b[o])
    dW[o, c, i, j]  = sum_n sum_s sum_r dy[n, o, r, s] * xpad[n, c, r + i, s + j]
    db[o]           = sum of dy[:, o]
    dxpad           = the same forward sum on dy padded by (kh - 1, kw - 1) with the weight
                      flipped and transposed, Wt[c, o, i, j] = W[o, c, kh-1-i, kw-1-j]
                      (the gradient of a stride-1 correlation is a full correlation); dx = its interior

Reproducible: each y row and each sample's share of dW (``_dweight_parts``:
per (n, o), over r into a row of per-column sums, then over s) is computed by
one thread in a fixed order, and the shares are added over n in order; db sums
in float64. So results do not depend on the thread count.

Measured (2-core Haswell, float32; the three paths alternating in one process,
min / median of 9; another engineer's test run loading the machine), ms:

    layer                              NumPy folded    im2col compiled   direct
    5x5 2->16 128x128 b32, fwd          83.7 / 91.6     58.2 / 91.6      43.2 / 65.2
      backward without dx (a first layer) 67.3 / 71.4   56.8 / 67.4      47.4 / 65.7
      backward with dx                 105.8 / 144.0   122.2 / 145.4     98.2 / 111.0
    3x3 4->32 128x128 b16, fwd          28.9 / 51.9     32.1 / 52.3      44.6 / 50.5
      backward with dx                  73.0 / 92.8     55.2 / 86.6      75.9 / 99.9

(on a quieter machine earlier: 2->16 forward 21 ms against 23-30 ms, backward
without dx 23 against 30-32 ms). It wins on the 2-channel 5x5 layer (the
parallel LeNet's first, whose im2col inner dimension is 50 and O = 16) and
loses on the 4-channel 3x3 one (K = 36, O = 32, where BLAS does better), so
``conv_im2col`` takes this path for stride-1 layers with at most
``MAX_CHANNELS`` = 2 input channels only.
"""
import numpy

from minidl.compiled import jit
from minidl.fast_cpu import windows

MAX_CHANNELS = 2  # where it was measured to win (module docstring)


def suits(x_shape, weight_shape, stride):
    return tuple(stride) == (1, 1) and x_shape[1] <= MAX_CHANNELS


@jit.kernel
def _correlate(xpad, weight, bias, use_bias, y):
    n_count, o_count, ho, wo = y.shape
    c_count, kh, kw = weight.shape[1], weight.shape[2], weight.shape[3]
    for task in jit.prange(n_count * o_count):
        n, o = task // o_count, task % o_count
        for r in range(ho):
            out = y[n, o, r]
            for s in range(wo):
                out[s] = 0
            for c in range(c_count):
                for i in range(kh):
                    src = xpad[n, c, r + i]
                    for j in range(kw):
                        w = weight[o, c, i, j]
                        for s in range(wo):
                            out[s] += w * src[s + j]
            if use_bias:
                b = bias[o]
                for s in range(wo):
                    out[s] += b


@jit.kernel
def _dweight_parts(xpad, dy, parts):
    n_count, o_count, ho, wo = dy.shape
    c_count, kh, kw = parts.shape[2], parts.shape[3], parts.shape[4]
    for task in jit.prange(n_count * o_count):
        n, o = task // o_count, task % o_count
        column_sums = numpy.zeros(wo, dtype=dy.dtype)
        for c in range(c_count):
            for i in range(kh):
                for j in range(kw):
                    for s in range(wo):
                        column_sums[s] = 0
                    for r in range(ho):
                        g, src = dy[n, o, r], xpad[n, c, r + i]
                        for s in range(wo):
                            column_sums[s] += g[s] * src[s + j]
                    total = 0.0
                    for s in range(wo):
                        total += column_sums[s]
                    parts[n, o, c, i, j] = total


@jit.kernel
def _sum_over_samples(parts, dbias_parts, dweight, dbias):
    """dweight[k] = sum over n of parts[n, k] in order of n; dbias likewise, in float64."""
    n_count = parts.shape[0]
    for k in jit.prange(dweight.size):
        total = parts[0, k]
        for n in range(1, n_count):
            total += parts[n, k]
        dweight[k] = total
    for o in jit.prange(dbias.size):
        total = 0.0
        for n in range(n_count):
            total += dbias_parts[n, o]
        dbias[o] = total


@jit.kernel
def _bias_parts(dy, out):
    """out[n, o] = sum of dy[n, o] (float64, a row of per-column sums first)."""
    n_count, o_count, ho, wo = dy.shape
    for task in jit.prange(n_count * o_count):
        n, o = task // o_count, task % o_count
        column_sums = numpy.zeros(wo, dtype=numpy.float64)
        for r in range(ho):
            g = dy[n, o, r]
            for s in range(wo):
                column_sums[s] += g[s]
        total = 0.0
        for s in range(wo):
            total += column_sums[s]
        out[n, o] = total


def forward(x, weight, bias=None, *, padding=(0, 0), **_):
    n, o, (kh, kw) = x.shape[0], weight.shape[0], weight.shape[2:]
    xpad = windows.pad(x, tuple(padding))
    y = numpy.empty((n, o, xpad.shape[2] - kh + 1, xpad.shape[3] - kw + 1), dtype=x.dtype)
    w = numpy.ascontiguousarray(weight, dtype=x.dtype)
    b = numpy.zeros(1, x.dtype) if bias is None else numpy.ascontiguousarray(bias, dtype=x.dtype)
    _correlate(xpad, w, b, bias is not None, y)
    return y, (xpad, x.shape, w, bias is not None, tuple(padding))


def backward(dy, saved, *, input_grad=True, **_):
    xpad, x_shape, weight, has_bias, (ph, pw) = saved
    dy = numpy.ascontiguousarray(dy)
    n, o, c, kh, kw = dy.shape[0], *weight.shape
    parts = numpy.empty((n, o, c, kh, kw), dtype=dy.dtype)
    _dweight_parts(xpad, dy, parts)
    bias_parts = numpy.empty((n, o if has_bias else 0), dtype=numpy.float64)
    if has_bias:
        _bias_parts(dy, bias_parts)
    dweight, dbias = numpy.empty(weight.shape, dtype=dy.dtype), numpy.empty(bias_parts.shape[1])
    _sum_over_samples(parts.reshape(n, -1), bias_parts, dweight.reshape(-1), dbias)
    dx = None
    if input_grad:
        flipped = numpy.ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        dypad = windows.pad(dy, (kh - 1, kw - 1))
        dxpad = numpy.empty((n, c) + xpad.shape[2:], dtype=dy.dtype)
        _correlate(dypad, flipped, numpy.zeros(1, dy.dtype), False, dxpad)
        h, w = x_shape[2:]
        dx = dxpad[:, :, ph:ph + h, pw:pw + w]
    return dx, dweight, (dbias.astype(dy.dtype) if has_bias else None)

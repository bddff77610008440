"""Max pooling over 2x2 windows (stride 2, no padding): forward in one threaded pass
(math: ``minidl/ops/max_pool2d.py``; backward: ``fast_cpu/pool2x2``'s).

The NumPy path (``fast_cpu/pool2x2``) halves the image twice, across then
down, keeping two boolean masks: four passes forward, on one core. Here one
loop, split over the image planes and the cores, reads each window once and
writes what those four passes write:

    right[p, 2r + i, s] = x[p, 2r + i, 2s + 1] > x[p, 2r + i, 2s]      (i = 0, 1)
    h_i = max of row i's pair         lower[p, r, s] = h_1 > h_0
    y[p, r, s] = h_1 if lower else h_0                                   (p: the N*C planes)

The strict ``>`` keeps the first maximum in window order (0,0), (0,1), (1,0),
(1,1), as the reference and PyTorch do. The masks are the NumPy path's, so its
backward (four vectorized passes) serves here too: a compiled backward that
wrote dy to each window's winner and zeros elsewhere ran slower (15.2 against
9.4 ms on 32x16x128x128: its interleaved stores did not vectorize).

Measured gain (``python -m minidl.bench --only maxpool``, 16x32x128x128 float32,
forward+backward, 2 shared cores, two runs): 16.8 / 12.6 ms against the NumPy
path's 24.0 / 23.6 ms (PyTorch 61.6 / 31.7). Forward alone on 32x16x128x128: 6.1 against 14.9 ms. (The
compiled backward of before read 31.7 / 27.9 against 95.2 / 67.6 ms in two
runs under heavier load.)
"""
import sys

import numpy

from minidl import compiled
from minidl.compiled import jit
from minidl.fast_cpu import pool2x2


@jit.kernel
def _forward(x, y, right, lower):
    for p in jit.prange(y.shape[0]):
        for r in range(y.shape[1]):
            top, bottom = x[p, 2 * r], x[p, 2 * r + 1]
            right_top, right_bottom = right[p, 2 * r], right[p, 2 * r + 1]
            y_row, lower_row = y[p, r], lower[p, r]
            for s in range(y.shape[2]):
                a, b, c, d = top[2 * s], top[2 * s + 1], bottom[2 * s], bottom[2 * s + 1]
                right_top[s], right_bottom[s] = b > a, d > c
                h0 = b if b > a else a
                h1 = d if d > c else c
                lower_row[s] = h1 > h0
                y_row[s] = h1 if h1 > h0 else h0


def supports(x, **hyper):
    return compiled.host_float(x) and pool2x2.supports(x, **hyper)


def forward(x, **_):
    """y (N, C, Ho, Wo) and ((right (N, C, 2Ho, Wo), lower (N, C, Ho, Wo)), x's shape), as ``pool2x2``."""
    geometry = pool2x2.plan(x.shape)
    n, c, h, w = x.shape
    ho, wo = geometry.out_rows, geometry.out_cols
    planes = numpy.ascontiguousarray(x).reshape(n * c, h, w)
    y = numpy.empty((n * c, ho, wo), dtype=x.dtype)
    right, lower = numpy.empty((n * c, 2 * ho, wo), dtype=bool), numpy.empty(y.shape, dtype=bool)
    _forward(planes, y, right, lower)
    shape = (n, c)
    return y.reshape(shape + y.shape[1:]), ((right.reshape(shape + right.shape[1:]),
                                             lower.reshape(shape + lower.shape[1:])), x.shape)


backward = pool2x2.backward


compiled.register("max_pool2d", "numba_2x2", sys.modules[__name__])

"""Max pooling over 2x2 windows (stride 2, no padding) in one threaded pass each way
(math: ``minidl/ops/max_pool2d.py``).

The NumPy path (``fast_cpu/pool2x2``) halves the image twice, across then
down, keeping two boolean masks: four passes forward and four backward, on
one core. Here each output compares its window's four inputs in window order
(0,0), (0,1), (1,0), (1,1) with a strict ``>``, so on a tie the first maximum
wins, as in the reference and PyTorch, and keeps the winner's offset k in one
byte:

    y[p, r, s] = x[p, 2r + k//2, 2s + k%2]      (p: the N*C image planes)

Backward writes every input of the window once: dy to the winner, 0 to the
other three, so dx needs no zeroing pass (only a cropped last row or column,
under no window, is zeroed). The image planes are split over the cores.

Measured gain (``python -m minidl.bench --only maxpool``, 16x32x128x128 float32,
forward+backward, 2 loaded cores, two runs): 31.7 / 27.9 ms against the NumPy
path's 95.2 / 67.6 ms (PyTorch 112.8 / 94.0). All of it is in forward: on the
parallel LeNet's 32x16x128x128, forward 4.1 against 14.5 ms, but backward 15.2
against NumPy's 9.4 ms (its four vectorized passes beat this loop's strided
stores; still open).
"""
import sys

import numpy

from minidl import compiled
from minidl.compiled import jit
from minidl.fast_cpu.pool2x2 import plan
from minidl.fast_cpu.pool2x2 import supports as is_2x2
from minidl.ops import registry


@jit.kernel
def _forward(x, y, winner):
    for p in jit.prange(y.shape[0]):
        for r in range(y.shape[1]):
            upper, lower = x[p, 2 * r], x[p, 2 * r + 1]
            for s in range(y.shape[2]):
                best, k = upper[2 * s], 0
                if upper[2 * s + 1] > best:
                    best, k = upper[2 * s + 1], 1
                if lower[2 * s] > best:
                    best, k = lower[2 * s], 2
                if lower[2 * s + 1] > best:
                    best, k = lower[2 * s + 1], 3
                y[p, r, s] = best
                winner[p, r, s] = k


@jit.kernel
def _backward(dy, winner, dx):
    zero = dx.dtype.type(0)
    for p in jit.prange(dy.shape[0]):
        for r in range(dy.shape[1]):
            upper, lower = dx[p, 2 * r], dx[p, 2 * r + 1]
            for s in range(dy.shape[2]):
                g, k = dy[p, r, s], winner[p, r, s]
                upper[2 * s] = g if k == 0 else zero
                upper[2 * s + 1] = g if k == 1 else zero
                lower[2 * s] = g if k == 2 else zero
                lower[2 * s + 1] = g if k == 3 else zero


def supports(x, **hyper):
    return compiled.host_float(x) and is_2x2(x, **hyper)


def forward(x, **_):
    """y (N, C, Ho, Wo) and (the winners' offsets (N, C, Ho, Wo) uint8, x's shape)."""
    geometry = plan(x.shape)
    n, c, h, w = x.shape
    planes = numpy.ascontiguousarray(x).reshape(n * c, h, w)
    y = numpy.empty((n * c, geometry.out_rows, geometry.out_cols), dtype=x.dtype)
    winner = numpy.empty(y.shape, dtype=numpy.uint8)
    _forward(planes, y, winner)
    return y.reshape(n, c, *y.shape[1:]), (winner, x.shape)


def backward(dy, saved, **_):
    winner, x_shape = saved
    n, c, h, w = x_shape
    # A cropped last row or column is under no window: only then does dx need zeros.
    dx = (numpy.zeros if plan(x_shape).cropped else numpy.empty)((n * c, h, w), dtype=dy.dtype)
    _backward(numpy.ascontiguousarray(dy).reshape(winner.shape), winner, dx)
    return (dx.reshape(x_shape),)


if jit.AVAILABLE:
    registry.register("max_pool2d", device="cpu", name="numba_2x2", impl=sys.modules[__name__], priority=2)

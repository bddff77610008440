"""Max pooling over non-overlapping 2x2 windows (kernel 2, stride 2, no padding) in two halvings.

The general pooling (``window_pool``) loops over the 4 kernel offsets and tracks each
window's winner as an offset index: about 13 passes over the output in forward
and a comparison per offset in backward. For 2x2 windows the winner is two
binary choices, made one axis at a time:

    across:  h[n, c, i, s]   = max(x[n, c, i, 2s], x[n, c, i, 2s+1])       right = x[.., 2s+1] > x[.., 2s]
    down:    y[n, c, r, s]   = max(h[n, c, 2r, s], h[n, c, 2r+1, s])       lower = h[.., 2r+1, s] > h[.., 2r, s]

(h is (N, C, 2*Ho, Wo); right has its shape, lower has y's). The strict ``>``
keeps the left column on a tie within a row and the upper row on a tie
between rows, so the winner is the first maximum in window order (0,0),
(0,1), (1,0), (1,1): the same input as the general path, and as PyTorch,
receives the gradient. Backward undoes the two halvings:

    dh[.., 2r+1, s] = dy * lower         dh[.., 2r, s]   = dy - dh[.., 2r+1, s]
    dx[.., 2s+1]    = dh * right         dx[.., 2s]      = dh - dx[.., 2s+1]

(subtracting routes the rest of dy, all of it or nothing, to the other side
without a second mask). Forward keeps two boolean masks, 1.5 bytes per
output, against one byte of argmax; it makes 4 passes and backward 4. With
an odd height or width the last input row or column is in no window (floor
mode): it gets zero gradient.

The batch is worked through in chunks of ``CHUNK_BYTES`` of input, so the
half-size intermediate h stays in cache.
"""
import sys
from collections import namedtuple

from minidl import backend
from minidl.fast_cpu import windows
from minidl.ops import registry

CHUNK_BYTES = 4 << 20

# Geometry of one 2x2 pooling: output rows and columns, and whether the input
# has a last row or column that no window covers.
Halving = namedtuple("Halving", "out_rows out_cols cropped")


def plan(x_shape):
    """The ``Halving`` of an (N, C, H, W) input; ValueError when H or W is below 2."""
    h, w = x_shape[2:]
    if h < 2 or w < 2:
        raise ValueError(f"input {h}x{w} is smaller than the 2x2 pooling window")
    return Halving(h // 2, w // 2, h % 2 == 1 or w % 2 == 1)


def _chunks(x_shape, itemsize, geometry):
    row_bytes = itemsize * x_shape[1] * 2 * x_shape[3]  # input bytes under one output row
    return windows.chunks(x_shape[0], geometry.out_rows, row_bytes, CHUNK_BYTES)


def supports(x, *, kernel_size=None, stride=None, padding=None, **_):
    """Only 2x2 windows with stride 2 and no padding (every CNN's halving)."""
    return tuple(kernel_size) == tuple(stride) == (2, 2) and tuple(padding) == (0, 0)


def forward(x, **_):
    """y (N, C, Ho, Wo) of 2x2 max pooling, and (its masks, x's shape): the masks are
    right (N, C, 2Ho, Wo) and lower (N, C, Ho, Wo)."""
    xp = backend.get_array_module(x)
    geometry = plan(x.shape)
    n, c = x.shape[:2]
    ho, wo = geometry.out_rows, geometry.out_cols
    y = xp.empty((n, c, ho, wo), dtype=x.dtype)
    right = xp.empty((n, c, 2 * ho, wo), dtype=bool)
    lower = xp.empty(y.shape, dtype=bool)
    for samples, rows in _chunks(x.shape, x.itemsize, geometry):
        in_rows = slice(2 * rows.start, 2 * rows.stop)
        chunk = x[samples, :, in_rows]
        left_col, right_col = chunk[..., 0:2 * wo:2], chunk[..., 1:2 * wo:2]
        across = xp.maximum(left_col, right_col)
        xp.greater(right_col, left_col, out=right[samples, :, in_rows])
        pairs = across.reshape(across.shape[:2] + (-1, 2, wo))  # (n, C, rows, 2, Wo): upper and lower row
        xp.maximum(pairs[:, :, :, 0], pairs[:, :, :, 1], out=y[samples, :, rows])
        xp.greater(pairs[:, :, :, 1], pairs[:, :, :, 0], out=lower[samples, :, rows])
    return y, ((right, lower), x.shape)


def backward(dy, saved, **_):
    """(dx,): dy routed to each window's winner through the two masks of ``forward``; dx (N, C, H, W)."""
    xp = backend.get_array_module(dy)
    (right, lower), x_shape = saved
    geometry = plan(x_shape)
    wo = geometry.out_cols
    # A cropped border is in no window: only then does dx need zeros under it.
    dx = (xp.zeros if geometry.cropped else xp.empty)(x_shape, dtype=dy.dtype)
    for samples, rows in _chunks(x_shape, dy.itemsize, geometry):
        in_rows = slice(2 * rows.start, 2 * rows.stop)
        g = dy[samples, :, rows]
        dh = xp.empty(g.shape[:3] + (2, wo), dtype=dy.dtype)
        xp.multiply(g, lower[samples, :, rows], out=dh[:, :, :, 1])
        xp.subtract(g, dh[:, :, :, 1], out=dh[:, :, :, 0])
        dh = dh.reshape(g.shape[:2] + (-1, wo))
        target = dx[samples, :, in_rows]
        xp.multiply(dh, right[samples, :, in_rows], out=target[..., 1:2 * wo:2])
        xp.subtract(dh, target[..., 1:2 * wo:2], out=target[..., 0:2 * wo:2])
    return (dx,)


# Before the general loop (``window_pool``) wherever it applies.
registry.register("max_pool2d", device="cpu", name="halving_2x2", impl=sys.modules[__name__], priority=1)

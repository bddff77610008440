"""Sliding windows over NCHW images in chunks and workspaces: the machinery of the fast CPU
convolution (``conv_folded``) and pooling (``window_pool``, ``pool2x2``).

A layer with kernel (kh, kw), stride (sh, sw) and padding (ph, pw) reads, for
output pixel (r, s), the window of the padded input whose top-left corner is
(r*sh, s*sw). Along each spatial axis (floor, like PyTorch's ceil_mode=False):

    Ho = (H + 2*ph - kh) // sh + 1

``window_view`` shows all windows at once, without copying, as a strided view

    view[n, c, i, j, r, s] = xpad[n, c, r*sh + i, s*sw + j]          (N, C, kh, kw, Ho, Wo)

so ``view[:, :, i, j]`` is kernel offset (i, j) of every window, an (N, C, Ho, Wo)
slice: pooling loops over these kh*kw slices. im2col copies the view into the
column matrix cols[(c, i, j), (n, r, s)] of shape (C*kh*kw, N*Ho*Wo), so that a
convolution is one matrix product W (O, C*kh*kw) @ cols. col2im is its adjoint:
it adds every column entry back onto the pixel it was copied from. Within one
kernel offset each pixel is hit at most once, so a plain ``+=`` per offset is
exact, and no scatter-add is needed.

Chunks. The column matrix is kh*kw times bigger than the image, so layers work
through a batch in chunks (a few samples, or a few output rows of one sample:
``chunks``) built into a reused workspace (``workspace``): a fresh batch-sized
array costs a page fault per 4 KiB, on NumPy about as much as filling it. A
chunk never exceeds the memory budget (``set_memory_budget``, default 1 GiB);
each layer also has a smaller preferred chunk size, measured for speed.
"""
import threading

from minidl import backend
from minidl.ops.geometry import output_size, pair  # noqa: F401  (re-exported: the fast paths' geometry)

_budget = 1 << 30  # upper bound on the buffers of one chunk
_local = threading.local()  # each thread its own workspaces


def set_memory_budget(nbytes):
    """Bytes the workspace of one chunk may use (default 1 GiB); returns the previous budget."""
    global _budget
    if not isinstance(nbytes, int) or nbytes < 1:
        raise ValueError(f"memory budget must be a positive number of bytes, got {nbytes!r}")
    previous, _budget = _budget, nbytes
    return previous


def get_memory_budget():
    return _budget


def row_width(x_shape, kernel, stride, padding):
    """Width Wr of the output rows a convolution computes: Wo, or for stride 1 the padded width Wp.

    With stride 1, window (r, s) at offset (i, j) starts at flat position
    (r + i)*Wp + (s + j) of the padded image, so letting s run on to Wp - 1 makes
    each (i, j) row of cols ONE contiguous stretch of the image: im2col and
    col2im then move long runs instead of Wo-long pieces (1.5-2.5x faster). The
    Wp - Wo extra columns are junk (windows wrapping into the next image row):
    the caller drops them from the output and gives them zero gradient.
    """
    if tuple(stride) == (1, 1):
        return x_shape[3] + 2 * padding[1]
    return output_size(x_shape, kernel, stride, padding)[1]


def pad(x, padding, value=0.0, extra_rows=0):
    """Contiguous copy of ``x`` (N, C, H, W) with ``padding`` = (ph, pw) rows and columns
    of ``value`` around it, and ``extra_rows`` more at the bottom."""
    xp = backend.get_array_module(x)
    (ph, pw), (n, c, h, w) = padding, x.shape
    if ph == pw == extra_rows == 0:
        return xp.ascontiguousarray(x)
    out = xp.full((n, c, h + 2 * ph + extra_rows, w + 2 * pw), value, dtype=x.dtype)
    out[:, :, ph:ph + h, pw:pw + w] = x
    return out


def window_view(xpad, kernel, stride, rows, width):
    """Strided view (N, C, kh, kw, rows, width) of the contiguous padded ``xpad``:
    [n, c, i, j, r, s] = xpad[n, c, r*sh + i, s*sw + j], where s*sw + j may run
    past the end of a row into the next one (the junk of ``row_width``)."""
    xp = backend.get_array_module(xpad)
    (kh, kw), (sh, sw) = kernel, stride
    wp, item = xpad.shape[3], xpad.itemsize
    shape = xpad.shape[:2] + (kh, kw, rows, width)
    strides = xpad.strides[:2] + (wp * item, item, sh * wp * item, sw * item)
    if not xpad.flags.c_contiguous:
        raise ValueError("window_view needs a C-contiguous padded array (windows.pad makes one)")
    if sum((d - 1) * st for d, st in zip(shape, strides)) + item > xpad.nbytes:
        raise ValueError(f"windows {shape} run past the padded array {xpad.shape}: pad more rows")
    return xp.lib.stride_tricks.as_strided(xpad, shape, strides)


def chunks(batch, rows, row_bytes, preferred, budget=None):
    """(sample slice, row slice) pairs tiling a (batch, rows) grid of output rows whose
    buffers take ``row_bytes`` per row: whole samples when one fits, else runs of rows of
    one sample. Each chunk stays within min(preferred, budget) bytes (the global budget
    if None), unless a single row alone is bigger."""
    limit = min(preferred, budget or _budget)
    if rows * row_bytes <= limit:
        per = limit // (rows * row_bytes)
        return [(slice(n, min(n + per, batch)), slice(0, rows)) for n in range(0, batch, per)]
    per = max(1, limit // row_bytes)
    return [(slice(n, n + 1), slice(r, min(r + per, rows))) for n in range(batch) for r in range(0, rows, per)]


def workspace(name, shape, dtype, like):
    """Uninitialised array ``shape`` on the device of ``like``, in this thread's buffer
    ``name``, reused while big enough: the array lives until the next call with ``name``."""
    xp = backend.get_array_module(like)
    nbytes = xp.dtype(dtype).itemsize
    for size in shape:
        nbytes *= size
    buffers = _local.__dict__.setdefault("buffers", {})
    buf = buffers.get(name)
    if buf is None or buf.size < nbytes or backend.is_device_array(buf) != backend.is_device_array(like):
        buffers[name] = None  # free the old buffer before allocating the new one
        buf = buffers[name] = xp.empty(nbytes, dtype=xp.uint8)
    return buf[:nbytes].view(dtype).reshape(shape)


def im2col(windows):
    """Copy a chunk (N, C, kh, kw, rows, Wr) of a window view into the workspace as
    ONE column matrix (C*kh*kw, N*rows*Wr): a single matrix product serves the chunk."""
    n, c, kh, kw, rows, width = windows.shape
    cols = workspace("cols", (c, kh, kw, n, rows, width), windows.dtype, windows)
    cols[...] = windows.transpose(1, 2, 3, 0, 4, 5)  # inner runs stay rows*Wr long
    return cols.reshape(c * kh * kw, n * rows * width)


def col2im(cols, target):
    """Adjoint of ``im2col``: add the columns (C*kh*kw, N*rows*Wr) onto the image
    under ``target``, a chunk (N, C, kh, kw, rows, Wr) of a window view of a padded gradient."""
    n, c, kh, kw, rows, width = target.shape
    cols = cols.reshape(c, kh, kw, n, rows, width).transpose(3, 0, 1, 2, 4, 5)
    for i in range(kh):
        for j in range(kw):
            target[:, :, i, j] += cols[:, :, i, j]

"""Window geometry shared by convolution and pooling: argument pairs and output sizes.

A layer with kernel (kh, kw), stride (sh, sw) and padding (ph, pw) reads, for
output pixel (r, s), the window of the zero-padded input whose top-left corner
is (r*sh, s*sw). Along each spatial axis (floor, like PyTorch's ceil_mode=False:
a partial window at the border is dropped):

    Ho = (H + 2*ph - kh) // sh + 1
"""
from minidl import backend
from minidl.ops import registry


def pair(value, name, minimum):
    """``value`` as an (h, w) pair of ints >= ``minimum``; ``name`` is used in the error."""
    pair_ = (value, value) if isinstance(value, int) else tuple(value) if isinstance(value, (tuple, list)) else ()
    if len(pair_) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair_):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(pair_) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return pair_


def output_size(x_shape, kernel, stride, padding):
    """(Ho, Wo) of a window layer on input shape (N, C, H, W); ValueError if the window does not fit."""
    sizes = []
    for axis, size, k, s, p in zip("HW", x_shape[2:], kernel, stride, padding):
        if size + 2 * p < k:
            raise ValueError(f"input {axis}={size} with padding {p} is smaller than kernel_size {k}")
        sizes.append((size + 2 * p - k) // s + 1)
    return tuple(sizes)


def pad(x, padding, value=0.0):
    """``x`` (N, C, H, W) with ``padding`` = (ph, pw) rows and columns of ``value`` around it."""
    (ph, pw) = padding
    xp = backend.get_array_module(x)
    return xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def windows(xpad, kernel, stride):
    """All windows of ``xpad`` as a strided view (N, C, Ho, Wo, kh, kw), no copy:
    [n, c, r, s, i, j] = xpad[n, c, r*sh + i, s*sw + j]."""
    xp = backend.get_array_module(xpad)
    view = xp.lib.stride_tricks.sliding_window_view(xpad, kernel, axis=(2, 3))
    return view[:, :, ::stride[0], ::stride[1]]


def window_case(label, x, kernel, stride, padding, **flags):
    """A check case (``registry.Case``) of a window op; ints stand for square pairs."""
    def as_pair(v):
        return (v, v) if isinstance(v, int) else tuple(v)
    return registry.Case(label, x, kernel_size=as_pair(kernel), stride=as_pair(stride), padding=as_pair(padding),
                         **flags)

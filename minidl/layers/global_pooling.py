"""Global pooling: x (N, C, H, W) -> y (N, C), one value per channel.

The output is already flat, i.e. it equals PyTorch's
``Flatten()(AdaptiveAvgPool2d(1)(x))`` (resp. ``AdaptiveMaxPool2d``), so a
Linear layer can follow directly.

    avg: y[n, c] = mean_hw x[n, c, h, w]     dL/dx[n, c, h, w] = dL/dy[n, c] / (H*W)
    max: y[n, c] = max_hw x[n, c, h, w]      dL/dx = dL/dy[n, c] at the arg-max, 0 elsewhere

For ties the max gradient goes to the first maximal position (row-major), as
``argmax`` picks it.

``AdaptiveAvgPool2d((oh, ow))`` keeps a small map instead, PyTorch's bins:
output row i averages input rows [floor(i*H/oh), ceil((i+1)*H/oh)) (bins
overlap when oh does not divide H), likewise columns. With A_h (oh, H) holding
1/len(bin) on each bin, and A_w (ow, W) likewise, pooling is two products

    y[n, c] = A_h @ x[n, c] @ A_w^T          dL/dx[n, c] = A_h^T @ dL/dy[n, c] @ A_w

(N, C, H, W) -> (N, C, oh, ow); an identity when (oh, ow) == (H, W).
"""
from minidl import backend
from minidl.module import Module


def _check(x):
    if x.ndim != 4:
        raise ValueError(f"x must have shape (N, C, H, W), got {x.shape}")


class GlobalAvgPool2d(Module):
    def forward(self, x):
        _check(x)
        self.save_for_backward(x.shape)
        return x.reshape(x.shape[0], x.shape[1], -1).mean(axis=2)

    def backward(self, dy):
        (shape,) = self.saved()
        n, c, h, w = shape
        dx = backend.get_array_module(dy).empty(shape, dtype=dy.dtype)
        dx[...] = (dy / (h * w))[:, :, None, None]
        return dx


class GlobalMaxPool2d(Module):
    def forward(self, x):
        _check(x)
        xp = backend.get_array_module(x)
        flat = x.reshape(x.shape[0], x.shape[1], -1)
        argmax = flat.argmax(axis=2)[:, :, None]
        self.save_for_backward(x.shape, argmax)
        return xp.take_along_axis(flat, argmax, axis=2)[:, :, 0]

    def backward(self, dy):
        xp = backend.get_array_module(dy)
        shape, argmax = self.saved()
        n, c, h, w = shape
        dx = xp.zeros((n, c, h * w), dtype=dy.dtype)
        xp.put_along_axis(dx, argmax, dy[:, :, None], axis=2)
        return dx.reshape(shape)


def _bin_matrix(xp, size, out, dtype):
    """(out, size): row i is 1/len on PyTorch's adaptive bin i of ``size`` positions, 0 elsewhere."""
    i = xp.arange(out)
    start, end = (i * size) // out, -((-(i + 1) * size) // out)
    pos = xp.arange(size)
    inside = (pos[None, :] >= start[:, None]) & (pos[None, :] < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed (oh, ow) map, whatever the input size (VGG's 7x7)."""

    def __init__(self, output_size):
        super().__init__()
        size = (output_size, output_size) if not isinstance(output_size, (tuple, list)) else tuple(output_size)
        if len(size) != 2 or not all(isinstance(s, int) and s >= 1 for s in size):
            raise ValueError(f"output_size must be a positive int or pair, got {output_size!r}")
        self.output_size = size

    def forward(self, x):
        _check(x)
        xp = backend.get_array_module(x)
        (oh, ow), (h, w) = self.output_size, x.shape[2:]
        rows, cols = _bin_matrix(xp, h, oh, x.dtype), _bin_matrix(xp, w, ow, x.dtype)
        self.save_for_backward(rows, cols)
        return rows @ x @ cols.T

    def backward(self, dy):
        rows, cols = self.saved()
        return rows.T @ dy @ cols

    def extra_repr(self):
        return f"output_size={self.output_size}"

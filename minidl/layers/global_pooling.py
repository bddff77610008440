"""Global pooling: x (N, C, H, W) -> y (N, C), one value per channel.

The output is already flat, i.e. it equals PyTorch's
``Flatten()(AdaptiveAvgPool2d(1)(x))`` (resp. ``AdaptiveMaxPool2d``), so a
Linear layer can follow directly.

    avg: y[n, c] = mean_hw x[n, c, h, w]     dL/dx[n, c, h, w] = dL/dy[n, c] / (H*W)
    max: y[n, c] = max_hw x[n, c, h, w]      dL/dx = dL/dy[n, c] at the arg-max, 0 elsewhere

For ties the max gradient goes to the first maximal position (row-major), as
``argmax`` picks it.
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

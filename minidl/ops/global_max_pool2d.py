"""Global max pooling: x (N, C, H, W) -> y (N, C), one maximum per channel.

    y[n, c] = max_hw x[n, c, h, w]       dL/dx = dL/dy[n, c] at the arg-max, 0 elsewhere

For ties the gradient goes to the first maximal position (row-major), as
``argmax`` picks it. The output is PyTorch's ``Flatten()(AdaptiveMaxPool2d(1)(x))``.
"""
import sys

from minidl import backend
from minidl.ops import registry


def forward(x, **_):
    xp = backend.get_array_module(x)
    flat = x.reshape(x.shape[0], x.shape[1], -1)
    argmax = flat.argmax(axis=2)[:, :, None]
    return xp.take_along_axis(flat, argmax, axis=2)[:, :, 0], (x.shape, argmax)


def backward(dy, saved, **_):
    shape, argmax = saved
    n, c, h, w = shape
    dx = backend.get_array_module(dy).zeros((n, c, h * w), dtype=dy.dtype)
    backend.get_array_module(dy).put_along_axis(dx, argmax, dy[:, :, None], axis=2)
    return (dx.reshape(shape),)


CASES = [registry.Case("batch 2, odd", (2, 3, 5, 7)), registry.Case("batch 1", (1, 2, 3, 3)),
         registry.Case("ties", (2, 3, 4, 4), ties=True)]
registry.define("global_max_pool2d", sys.modules[__name__], cases=CASES)

"""Layers that only rearrange values: Flatten and ChannelSelect.

Flatten: x (N, d1, d2, ...) -> y (N, d1*d2*...), like ``torch.nn.Flatten()``;
backward reshapes the gradient back.

ChannelSelect(channels): x (N, C, ...) -> y (N, len(channels), ...) with
y[:, k] = x[:, channels[k]]. It lets a branch of a network see only some input
channels (e.g. (0, 1): the red and green stains of an HPA image). Backward puts
dL/dy[:, k] into channel channels[k] of dL/dx and zeros the channels not picked.
"""
from minidl import backend
from minidl.module import Module


class Flatten(Module):
    def forward(self, x):
        if x.ndim < 2:
            raise ValueError(f"x must have a batch axis and at least one more, got shape {x.shape}")
        self.save_for_backward(x.shape)
        # A copy, not a view: no module's output aliases its input.
        return x.copy().reshape(x.shape[0], -1)

    def backward(self, dy):
        (shape,) = self.saved()
        return dy.reshape(shape)


class ChannelSelect(Module):
    def __init__(self, channels):
        super().__init__()
        channels = tuple(channels)
        if not channels or not all(isinstance(c, int) and c >= 0 for c in channels):
            raise ValueError(f"channels must be a non-empty sequence of non-negative ints, got {channels!r}")
        # Distinct channels make backward a plain assignment (no scatter-add needed).
        if len(set(channels)) != len(channels):
            raise ValueError(f"channels must not repeat, got {channels!r}")
        self.channels = channels

    def forward(self, x):
        if x.ndim < 2 or x.shape[1] <= max(self.channels):
            raise ValueError(f"x must have shape (N, C, ...) with C > {max(self.channels)}, got {x.shape}")
        self.save_for_backward(x.shape)
        return x[:, list(self.channels)]

    def backward(self, dy):
        (shape,) = self.saved()
        dx = backend.get_array_module(dy).zeros(shape, dtype=dy.dtype)
        dx[:, list(self.channels)] = dy
        return dx

    def extra_repr(self):
        return f"channels={self.channels}"

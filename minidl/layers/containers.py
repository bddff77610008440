"""Containers: modules made of modules, with the backward pass of their wiring.

    Sequential(a, b, c)      y = c(b(a(x)))            children "0", "1", "2"
    Concat(a, b)             y = [a(x), b(x)] on axis 1 children "branches.0", ...
    Residual(f, p=None)      y = f(x) + (p(x) or x)
    GapTaps(stages)          y = [gap(s1(x)), gap(s2(s1(x))), ...] on axis 1
    DenseBlock(L, c, k)      DenseNet: each layer's k new channels appended to its input

The backward rules are the chain rule for the two ways data can flow: where a
value is used twice (the input of every Concat branch, the shortcut of a
Residual, a tapped stage output) the gradients of its uses are SUMMED; where
outputs are concatenated, the upstream gradient is SPLIT along the same axis.
"""
import itertools

from minidl import backend
from minidl.module import Module
from minidl.layers.activations import ReLU
from minidl.layers.batchnorm import BatchNorm2d
from minidl.layers.conv import Conv2d
from minidl.layers.dropout import Dropout
from minidl.layers.global_pooling import GlobalAvgPool2d


def _check_module(module, name):
    if not isinstance(module, Module):
        raise ValueError(f"{name} must be a Module, got {type(module).__name__}")
    return module


def _check_modules(modules, name):
    return [_check_module(m, f"{name}[{i}]") for i, m in enumerate(modules)]


def _sum(arrays):
    """Sum of gradients into a new array: never writes into an array a child returned.
    None (a branch that computes no input gradient, e.g. ``Conv2d(..., input_grad=False)``)
    adds nothing; all None gives None."""
    arrays = [a for a in arrays if a is not None]
    if not arrays:
        return None
    total = arrays[0]
    for a in arrays[1:]:
        total = total + a
    return total


def _concat(outputs):
    """Concatenate on axis 1; returns the result and the split points for backward."""
    xp = backend.get_array_module(*outputs)
    first = outputs[0]
    for i, out in enumerate(outputs):
        if out.ndim != first.ndim or out.shape[:1] + out.shape[2:] != first.shape[:1] + first.shape[2:]:
            raise ValueError(f"output {i} has shape {out.shape}, which cannot be concatenated on axis 1 "
                             f"with shape {first.shape}")
    bounds = list(itertools.accumulate(out.shape[1] for out in outputs))[:-1]
    return xp.concatenate(outputs, axis=1), bounds


def _split(dy, bounds):
    return backend.get_array_module(dy).split(dy, bounds, axis=1)


class ModuleList(Module):
    """A list of modules, registered as "0", "1", ...; it has no forward of its own."""

    def __init__(self, modules=()):
        super().__init__()
        for m in _check_modules(modules, "modules"):
            self.append(m)

    def append(self, module):
        _check_module(module, "module")
        setattr(self, str(len(self)), module)
        return self

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        items = list(self._modules.values())
        if isinstance(index, slice):
            return ModuleList(items[index])
        return items[index]


class Sequential(ModuleList):
    """Chain of modules: forward in order, backward in reverse order."""

    def __init__(self, *modules):
        super().__init__(modules)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(*list(self._modules.values())[index])
        return super().__getitem__(index)

    def forward(self, x):
        for m in self:
            x = m(x)
        return x

    def backward(self, dy):
        for m in reversed(list(self)):
            dy = m.backward(dy)
            if dy is None:  # m computes no input gradient: nothing before it gets one
                return None
        return dy


class Concat(Module):
    """Parallel branches on one input, outputs concatenated on axis 1.

    x -> [b0(x) (N, C0, ...), b1(x) (N, C1, ...)] -> y (N, C0 + C1, ...).
    Axis 1 is the channel axis of images, the feature axis of (N, F) arrays.
    Backward splits dL/dy into the branches' parts and sums their input gradients.
    """

    def __init__(self, *branches):
        super().__init__()
        if not branches:
            raise ValueError("branches must not be empty")
        self.branches = ModuleList(branches)

    def forward(self, x):
        y, bounds = _concat([b(x) for b in self.branches])
        self.save_for_backward(bounds)
        return y

    def backward(self, dy):
        (bounds,) = self.saved()
        parts = _split(dy, bounds)
        return _sum([b.backward(g) for b, g in zip(self.branches, parts)])


class Residual(Module):
    """y = body(x) + shortcut(x), shortcut = projection or the identity (He et al. 2016).

    A ReLU after the addition, as in ResNet, is a separate module that follows.
    dL/dx = body'(x)^T dL/dy + projection'(x)^T dL/dy (or + dL/dy for the identity).
    """

    def __init__(self, body, projection=None):
        super().__init__()
        self.body = _check_module(body, "body")
        if projection is not None:
            _check_module(projection, "projection")
        self.projection = projection

    def forward(self, x):
        y = self.body(x)
        shortcut = x if self.projection is None else self.projection(x)
        if y.shape != shortcut.shape:
            raise ValueError(f"body output shape {y.shape} differs from shortcut shape {shortcut.shape}; "
                             f"pass a projection")
        return y + shortcut

    def backward(self, dy):
        shortcut = dy if self.projection is None else self.projection.backward(dy)
        return self.body.backward(dy) + shortcut


class GapTaps(Module):
    """GapNet's feature extractor: global average pools tapped from every stage.

    The stages run in sequence, x -> h1 = s1(x) -> h2 = s2(h1) -> ...; the output
    of each tapped stage k, (N, C_k, H_k, W_k), is averaged to (N, C_k), and the
    pooled taps are concatenated to (N, sum C_k): features from early (fine) and
    late (coarse) stages side by side. ``taps`` lists the tapped stage indices
    (default all); the last stage must be one, or later stages would be unused.

    Dropout with rate ``dropout`` is applied to the pooled features. Pooling
    first and dropping then is far cheaper than dropping whole feature maps,
    and it drops each pooled feature with the same probability.

    Backward: a tapped output h_k feeds both its pool and stage k+1, so
    dL/dh_k = gap'^T (its part of dL/dy) + (gradient coming down from stage k+1).
    """

    def __init__(self, stages, dropout=0.0, taps=None):
        super().__init__()
        stages = _check_modules(stages, "stages")
        if not stages:
            raise ValueError("stages must not be empty")
        taps = tuple(range(len(stages))) if taps is None else tuple(sorted(set(taps)))
        if not taps or not all(isinstance(t, int) and 0 <= t < len(stages) for t in taps):
            raise ValueError(f"taps must be stage indices in [0, {len(stages)}), got {taps!r}")
        if taps[-1] != len(stages) - 1:
            raise ValueError(f"taps must include the last stage {len(stages) - 1}, got {taps!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.stages = ModuleList(stages)
        self.taps = taps
        self.pools = ModuleList(GlobalAvgPool2d() for _ in taps)
        self.dropout = Dropout(dropout)

    def forward(self, x):
        pooled = []
        pools = iter(self.pools)
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.taps:
                pooled.append(next(pools)(x))
        features, bounds = _concat(pooled)
        self.save_for_backward(bounds)
        return self.dropout(features)

    def backward(self, dy):
        parts = dict(zip(self.taps, zip(self.pools, _split(self.dropout.backward(dy), *self.saved()))))
        grad = None
        for i in reversed(range(len(self.stages))):
            if i in parts:
                pool, part = parts[i]
                tap = pool.backward(part)
                grad = tap if grad is None else grad + tap
            grad = self.stages[i].backward(grad)
        return grad

    def extra_repr(self):
        return f"taps={self.taps}"


class DenseLayer(Module):
    """One DenseNet layer (Huang et al. 2017): x (N, C, H, W) -> (N, growth_rate, H, W).

    With a bottleneck (DenseNet-B): BN-ReLU-Conv1x1(bn_size*growth_rate)-BN-ReLU-Conv3x3(growth_rate);
    with ``bn_size=None``: BN-ReLU-Conv3x3(growth_rate). Convolutions have no bias (a BN
    follows each, or the next layer's BN does). Children are named like torchvision's
    (norm1, relu1, conv1, norm2, relu2, conv2), so its DenseNet weights load by name.
    """

    def __init__(self, in_channels, growth_rate, bn_size=4):
        super().__init__()
        width = growth_rate if bn_size is None else bn_size * growth_rate
        self.norm1 = BatchNorm2d(in_channels)
        self.relu1 = ReLU()
        if bn_size is None:
            self.conv1 = Conv2d(in_channels, growth_rate, 3, padding=1, bias=False)
            return
        self.conv1 = Conv2d(in_channels, width, 1, bias=False)
        self.norm2 = BatchNorm2d(width)
        self.relu2 = ReLU()
        self.conv2 = Conv2d(width, growth_rate, 3, padding=1, bias=False)

    def forward(self, x):
        for m in self.children():
            x = m(x)
        return x

    def backward(self, dy):
        for m in reversed(list(self.children())):
            dy = m.backward(dy)
        return dy


class DenseBlock(Module):
    """DenseNet's block: layer l sees the block input and all earlier layers' outputs.

    x (N, C, H, W) -> y (N, C + num_layers*growth_rate, H, W), where layer l reads
    channels [0, C + l*k) of y and writes its k = growth_rate new channels after them.
    Children: denselayer1, denselayer2, ... (torchvision's names).

    Backward, from the last layer down: layer l's output channels carry
    dL/dy[:, C+l*k : C+(l+1)*k] (including what later layers added to them), and
    its input gradient is added to the channels it read, dL/dy[:, :C+l*k].
    """

    def __init__(self, num_layers, in_channels, growth_rate, bn_size=4):
        super().__init__()
        for name, value in (("num_layers", num_layers), ("in_channels", in_channels),
                            ("growth_rate", growth_rate)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if bn_size is not None and (not isinstance(bn_size, int) or bn_size < 1):
            raise ValueError(f"bn_size must be a positive int or None, got {bn_size!r}")
        self.in_channels, self.growth_rate = in_channels, growth_rate
        self.out_channels = in_channels + num_layers * growth_rate
        for i in range(num_layers):
            setattr(self, f"denselayer{i + 1}", DenseLayer(in_channels + i * growth_rate, growth_rate, bn_size))

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must have shape (N, {self.in_channels}, H, W), got {x.shape}")
        xp = backend.get_array_module(x)
        # One output buffer: each layer reads a prefix view of it and fills the next
        # channels, instead of re-concatenating an ever longer tensor at every layer.
        y = xp.empty((x.shape[0], self.out_channels) + x.shape[2:], dtype=x.dtype)
        y[:, :self.in_channels] = x
        c = self.in_channels
        for layer in self.children():
            y[:, c:c + self.growth_rate] = layer(y[:, :c])
            c += self.growth_rate
        return y

    def backward(self, dy):
        grad = dy.copy()  # our own buffer: input gradients are added into its prefix
        c = self.out_channels
        for layer in reversed(list(self.children())):
            c -= self.growth_rate
            grad[:, :c] += layer.backward(grad[:, c:c + self.growth_rate])
        return grad[:, :self.in_channels]

    def extra_repr(self):
        return f"in_channels={self.in_channels}, growth_rate={self.growth_rate}"

"""Containers: modules made of modules, with the backward pass of their wiring.

    Sequential(a, b, c)      y = c(b(a(x)))            children "0", "1", "2"
    Sequential({"conv0": a, "norm0": b})               children named as given (torch's OrderedDict form)
    Concat(a, b)             y = [a(x), b(x)] on axis 1 children "branches.0", ...
    ColumnSplit(a, b)        y = [a(x[:, :F]), b(x[:, F:])] on axis 1
    Residual(f, p=None)      y = f(x) + (p(x) or x)

Blocks that belong to one network (GapNet's taps, DenseNet's dense block)
live with that network in ``hpa.models``.

The backward rules are the chain rule for the two ways data can flow: where a
value is used twice (the input of every Concat branch, the shortcut of a
Residual) the gradients of its uses are SUMMED; where
outputs are concatenated, the upstream gradient is SPLIT along the same axis.
"""
import itertools

from minidl import backend
from minidl.module import Module


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


def concat_features(outputs):
    """Concatenate on axis 1; returns the result and the split points for backward."""
    xp = backend.get_array_module(*outputs)
    first = outputs[0]
    for i, out in enumerate(outputs):
        if out.ndim != first.ndim or out.shape[:1] + out.shape[2:] != first.shape[:1] + first.shape[2:]:
            raise ValueError(f"output {i} has shape {out.shape}, which cannot be concatenated on axis 1 "
                             f"with shape {first.shape}")
    bounds = list(itertools.accumulate(out.shape[1] for out in outputs))[:-1]
    return xp.concatenate(outputs, axis=1), bounds


def split_features(dy, bounds):
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
    """Chain of modules: forward in order, backward in reverse order.

    ``Sequential(a, b)`` names the children "0", "1"; ``Sequential({"conv": a,
    "norm": b})`` (one dict, as torch's ``Sequential(OrderedDict(...))``) names
    them by its keys, so state-dict keys read ``conv.weight``.
    """

    def __init__(self, *modules):
        if len(modules) == 1 and isinstance(modules[0], dict):
            super().__init__()
            for name, module in modules[0].items():
                setattr(self, str(name), _check_module(module, f"modules[{name!r}]"))
            return
        super().__init__(modules)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(*list(self._modules.values())[index])
        return super().__getitem__(index)

    _plan = None  # (children it was made for, steps): minidl.layers.fused's plan, None when unfused

    def set_plan(self, steps):
        """Run ``steps`` (the children in order, some runs of them replaced by one object with
        forward and backward: ``minidl.layers.fused``) instead of the children; None: the children.
        Returns the steps."""
        object.__setattr__(self, "_plan", None if steps is None else (tuple(self), list(steps)))
        return steps or []

    def steps(self):
        """What forward runs: the plan's steps while the children are those it was made for."""
        if self._plan is not None and self._plan[0] == tuple(self):
            return self._plan[1]
        return list(self)

    def forward(self, x):
        for m in self.steps():
            x = m(x)
        return x

    def backward(self, dy):
        for m in reversed(self.steps()):
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
        y, bounds = concat_features([b(x) for b in self.branches])
        self.save_for_backward(bounds)
        return y

    def backward(self, dy):
        (bounds,) = self.saved()
        return self._input_gradient([b.backward(g) for b, g in zip(self.branches, split_features(dy, bounds))])

    def _input_gradient(self, grads):
        """Every branch read all of x: the gradients of its uses add up."""
        return _sum(grads)


class ColumnSplit(Concat):
    """The mirror image of ``Concat``: branch i reads only the i-th equal block of columns.

    x (N, B*F) -> [b_i(x[:, i*F:(i+1)*F])] concatenated -> (N, sum of branch outputs).
    With Linear branches this is one Linear layer with a block-diagonal weight,
    without storing (or multiplying by) the off-diagonal zeros. Backward splits
    dL/dy like ``Concat`` and places each branch's input gradient in its block.
    """

    def forward(self, x):
        n = len(self.branches)
        if x.ndim != 2 or x.shape[1] % n:
            raise ValueError(f"x must have shape (N, F) with F divisible by {n}, got {x.shape}")
        width = x.shape[1] // n
        y, bounds = concat_features([b(x[:, i * width:(i + 1) * width]) for i, b in enumerate(self.branches)])
        self.save_for_backward(bounds)
        return y

    def _input_gradient(self, grads):
        """Branch i read only block i of x's columns: its gradient is that block."""
        return backend.get_array_module(*grads).concatenate(grads, axis=1)


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

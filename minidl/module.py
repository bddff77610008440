"""``Parameter`` and ``Module``: the containers every layer is built from.

A module's forward pass keeps what its backward pass needs; the backward pass
adds each parameter's gradient into ``Parameter.grad`` and returns the gradient
with respect to the input::

    y = layer(x)            # forward, caches intermediates
    dx = layer.backward(dy) # dy = dLoss/dy; accumulates dLoss/dW into W.grad

A layer keeps its backward state with ``save_for_backward(...)`` and reads it
with ``saved()``; under ``minidl.no_grad()`` nothing is kept, and a backward
pass then raises instead of using stale state.

Assigning a ``Parameter`` or a ``Module`` to an attribute registers it, so
``named_parameters()`` finds ``branches.0.conv1.weight`` without any listing by
hand. Buffers (state that is saved but not trained, like batch norm's running
statistics) are registered with ``register_buffer``.
"""
from collections import OrderedDict

import numpy

from minidl import backend, grad_mode
from minidl.atomic import atomic_path


class Parameter:
    """A trainable array ``data`` and its accumulated gradient ``grad``.

    ``requires_grad = False`` freezes it: optimizers skip it (fine-tuning only
    a classifier head).
    """

    def __init__(self, data, requires_grad=True):
        self.data = data
        self.grad = backend.get_array_module(data).zeros_like(data)
        self.requires_grad = requires_grad

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    def zero_grad(self):
        self.grad[...] = 0

    def _replace(self, data):
        self.data = data
        self.grad = backend.get_array_module(data).zeros_like(data)

    def __repr__(self):
        return f"Parameter(shape={self.shape}, dtype={self.dtype})"


class StateDictError(KeyError):
    """A state dict that does not fit the module: names the keys or shapes."""

    def __str__(self):
        return str(self.args[0])


class Module:
    """Base class of layers, losses' networks and containers.

    Subclasses implement ``forward(x)`` and ``backward(dy)``.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_saved", None)

    # --- registration -------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() "
                                 f"before assigning {name!r}")
        for table in (self._parameters, self._modules):
            table.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        elif name in self._buffers:
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)
            return
        self.__dict__.pop(name, None)

    def __getattr__(self, name):
        # Only called when normal lookup fails: registered items live in the tables.
        for table in ("_parameters", "_buffers", "_modules"):
            items = self.__dict__.get(table)
            if items is not None and name in items:
                return items[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def register_buffer(self, name, array):
        """Register saved, untrained state (e.g. ``running_mean``)."""
        self.__dict__.pop(name, None)
        self._buffers[name] = array

    # --- the layer contract -------------------------------------------------
    def forward(self, x):
        raise NotImplementedError(f"{type(self).__name__} has no forward")

    def backward(self, dy):
        raise NotImplementedError(f"{type(self).__name__} has no backward")

    def save_for_backward(self, *values):
        """Keep ``values`` for ``backward``; keep nothing under ``minidl.no_grad()``."""
        object.__setattr__(self, "_saved", values if grad_mode.is_grad_enabled() else None)

    def saved(self):
        """The tuple ``save_for_backward`` kept; an error when there is none."""
        if self._saved is None:
            raise RuntimeError(f"{type(self).__name__}.backward has nothing to go back through: "
                               "call it after a forward pass outside minidl.no_grad()")
        return self._saved

    def free_saved(self):
        """Drop the backward state (a backward that used it up in place calls this)."""
        object.__setattr__(self, "_saved", None)

    def __call__(self, x):
        if self._parameters:
            # An input on another device than the weights: say so plainly
            # rather than let NumPy or CuPy fail deep inside the layer.
            backend.get_array_module(x, next(iter(self._parameters.values())).data)
        return self.forward(x)

    # --- traversal ------------------------------------------------------------
    def children(self):
        return iter(self._modules.values())

    def named_modules(self, prefix=""):
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        return (m for _, m in self.named_modules())

    def named_parameters(self, prefix=""):
        for path, module in self.named_modules(prefix):
            for name, p in module._parameters.items():
                yield (f"{path}.{name}" if path else name), p

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix=""):
        for path, module in self.named_modules(prefix):
            for name, b in module._buffers.items():
                yield (f"{path}.{name}" if path else name), b

    def buffers(self):
        return [b for _, b in self.named_buffers()]

    # --- modes, dtypes, devices -----------------------------------------------
    def zero_grad(self):
        for p in self.parameters():
            p.zero_grad()

    def train(self, mode=True):
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def _map_arrays(self, fn, buffers_too=lambda b: True):
        for m in self.modules():
            for p in m._parameters.values():
                p._replace(fn(p.data))
            for name, b in m._buffers.items():
                if buffers_too(b):
                    m._buffers[name] = fn(b)
        return self

    def astype(self, dtype):
        """Cast parameters and floating-point buffers to ``dtype`` (e.g. float64)."""
        dtype = numpy.dtype(dtype)
        return self._map_arrays(lambda a: a.astype(dtype),
                                buffers_too=lambda b: numpy.dtype(b.dtype).kind == "f")

    def to(self, device):
        """Move parameters and buffers to ``"cpu"`` or ``"gpu"``."""
        return self._map_arrays(lambda a: backend.to_device(a, device))

    # --- state dicts and files ------------------------------------------------
    def state_dict(self):
        """Ordered ``name -> host NumPy copy`` of every parameter and buffer."""
        state = OrderedDict()
        for name, p in self.named_parameters():
            state[name] = backend.to_numpy(p.data).copy()
        for name, b in self.named_buffers():
            state[name] = backend.to_numpy(b).copy()
        return state

    def load_state_dict(self, state, strict=True):
        """Copy arrays from ``state`` into the parameters and buffers.

        ``strict`` requires exactly the same keys. Shapes must always match.
        Arrays keep this module's dtype and device, so a PyTorch ``state_dict``
        converted with ``{k: v.numpy() for k, v in sd.items()}`` loads as is.
        """
        params = dict(self.named_parameters())
        buffers = dict(self.named_buffers())
        expected = set(params) | set(buffers)
        missing = sorted(expected - set(state))
        unexpected = sorted(set(state) - expected)
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append("missing keys: " + ", ".join(missing))
            if unexpected:
                parts.append("unexpected keys: " + ", ".join(unexpected))
            raise StateDictError(f"state dict does not fit {type(self).__name__}: " + "; ".join(parts))
        for name in sorted(expected & set(state)):
            value = numpy.asarray(backend.to_numpy(state[name]))
            target = params[name].data if name in params else buffers[name]
            if tuple(value.shape) != tuple(target.shape):
                raise StateDictError(f"state dict key {name!r} has shape {tuple(value.shape)}, "
                                     f"the module expects {tuple(target.shape)}")
            xp = backend.get_array_module(target)
            target[...] = xp.asarray(value.astype(target.dtype, copy=False))
        return self

    def save(self, path):
        """Write ``state_dict()`` to an ``.npz`` file atomically."""
        save_arrays(path, self.state_dict())

    def load(self, path, strict=True):
        """Load weights saved by ``save`` into this module."""
        return self.load_state_dict(load_arrays(path), strict=strict)

    # --- printing -------------------------------------------------------------
    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"({name}): " + repr(child).replace("\n", "\n  ") for name, child in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"


def save_arrays(path, arrays):
    """Write a ``name -> array`` mapping to ``path`` (.npz) atomically."""
    host = {name: backend.to_numpy(a) for name, a in arrays.items()}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            numpy.savez(f, **host)


def load_arrays(path):
    """Read an ``.npz`` written by ``save_arrays`` into an ordered dict of NumPy arrays."""
    with numpy.load(path, allow_pickle=False) as data:
        return OrderedDict((name, data[name]) for name in data.files)

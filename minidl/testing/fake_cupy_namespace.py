"""The ``cupy`` module of the fake CUDA device (see ``fake_cupy``): CuPy's names only."""
import types

import numpy

from minidl.testing.fake_cupy import NAMES, SUBMODULES, FakeDeviceArray, _device_function


def _to_device(a, dtype=None, copy=True):
    """``cupy.array``/``cupy.asarray``: host data (or device arrays) onto the fake device."""
    host = a._a if isinstance(a, FakeDeviceArray) else _unwrap_nested(a)
    result = numpy.array(host, dtype=dtype, copy=True) if copy else numpy.asarray(host, dtype=dtype)
    return FakeDeviceArray(result)


def _unwrap_nested(a):
    if isinstance(a, (list, tuple)):
        return type(a)(_unwrap_nested(v) for v in a)
    return a._a if isinstance(a, FakeDeviceArray) else a


def asnumpy(a, out=None):
    """Copy a device array to the host (host arrays pass through)."""
    host = a._a.copy() if isinstance(a, FakeDeviceArray) else numpy.asarray(a)
    if out is not None:
        out[...] = host
        return out
    return host


class FakeRandomState:
    """``cupy.random.RandomState``: a seeded generator whose draws land on the device."""

    def __init__(self, seed=None):
        self._state = numpy.random.RandomState(seed)

    def seed(self, seed=None):
        self._state.seed(None if seed is None else int(seed) % 2 ** 32)

    def random_sample(self, size=None, dtype=float):
        return FakeDeviceArray(numpy.asarray(self._state.random_sample(size)).astype(dtype))

    def standard_normal(self, size=None, dtype=float):
        return FakeDeviceArray(numpy.asarray(self._state.standard_normal(size)).astype(dtype))


class FakeStream:
    """A CUDA stream whose work is done when each call returns: events are always complete."""

    def record(self, event=None):
        return types.SimpleNamespace(synchronize=lambda: None, done=True)

    def wait_event(self, event):
        pass

    def synchronize(self):
        pass


class FakeNamespace:
    """Attribute access restricted to CuPy's names under ``prefix``."""

    def __init__(self, target, prefix, overrides):
        self._target, self._prefix, self._overrides = target, prefix, overrides

    def __getattr__(self, name):
        full = self._prefix + name
        if full in self._overrides:
            return self._overrides[full]
        if full in SUBMODULES:
            return FakeNamespace(getattr(self._target, name), full + ".", self._overrides)
        if full not in NAMES:
            raise AttributeError(f"cupy has no '{full}' (fake CUDA device)")
        value = getattr(self._target, name)
        if isinstance(value, type) or not callable(value):
            return value  # dtypes, constants (pi, newaxis, ...)
        return _device_function(value, f"cupy.{full}")


_global_random = FakeRandomState(0)


def _random_function(name):
    def draw(*args, dtype=None, **kwargs):
        result = getattr(_global_random._state, name)(*args, **kwargs)
        result = numpy.asarray(result) if dtype is None else numpy.asarray(result).astype(dtype)
        return FakeDeviceArray(result)
    return draw


def _get_array_module(*arrays):
    return namespace if any(isinstance(a, FakeDeviceArray) for a in arrays) else numpy


_OVERRIDES = {
    "ndarray": FakeDeviceArray,
    "array": lambda a, dtype=None, copy=True, **_: _to_device(a, dtype, copy=True),
    "asarray": lambda a, dtype=None, **_: _to_device(a, dtype, copy=False),
    "asanyarray": lambda a, dtype=None, **_: _to_device(a, dtype, copy=False),
    "asnumpy": asnumpy,
    "get_array_module": _get_array_module,
    "random.RandomState": FakeRandomState,
    "random.seed": _global_random.seed,
    "random.get_random_state": lambda: _global_random,
    **{f"random.{name}": _random_function(name)
       for name in ("random_sample", "rand", "randn", "standard_normal", "uniform", "normal", "randint")},
    "__version__": "fake",
    "cuda": types.SimpleNamespace(  # one device; its work is done when a call returns
        runtime=types.SimpleNamespace(getDeviceCount=lambda: 1,
                                      getDeviceProperties=lambda i: {"name": b"fake CUDA device (CPU shim)"}),
        Device=lambda *args: types.SimpleNamespace(id=0, synchronize=lambda: None),
        Stream=lambda **kwargs: FakeStream(),
        get_current_stream=lambda: FakeStream(),
        alloc_pinned_memory=bytearray),
}
for _name in ("RawModule", "RawKernel", "ElementwiseKernel", "ReductionKernel"):
    def _no_compiler(*args, _name=_name, **kwargs):
        raise NotImplementedError(f"the fake CUDA device cannot compile {_name}s: minidl.kernels.launch "
                                  "runs kernels through the CPU shim instead")
    _OVERRIDES[_name] = _no_compiler

namespace = FakeNamespace(numpy, "", _OVERRIDES)

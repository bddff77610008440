"""A fake CUDA device: CuPy's API and strictness, on NumPy memory.

The tests install it as minidl's CuPy (``backend.install_device_module``),
so the GPU code paths run, and are tested, on machines without a GPU:

- Device arrays are ``FakeDeviceArray``, a type of their own (not a NumPy
  subclass). As with CuPy, arithmetic between one and a NumPy array raises
  ``TypeError``, ``np.asarray`` on one raises, and storing a NumPy array into one
  raises; ``.get()`` and ``asnumpy`` copy to the host, ``asarray`` copies host
  data to the device. Reductions return 0-d device arrays, as CuPy's do.
- The namespace has only CuPy's public names (``minidl/testing/cupy_names.txt``):
  a NumPy-only function is an ``AttributeError``, as it would be on the GPU.
- Custom kernels need nothing here: ``minidl.kernels.launch`` runs them through
  the CPU shim on the arrays' host memory (``_fake_host_view``).
"""
import numpy

from minidl.testing import cupy_names

NAMES = cupy_names()
SUBMODULES = frozenset(".".join(n.split(".")[:i]) for n in NAMES for i in range(1, n.count(".") + 1))
_NOT_ON_DEVICE = frozenset({"ctypes", "tofile", "tostring", "dumps", "dump"})


def _mixing_error(where):
    return TypeError(f"Unsupported type <class 'numpy.ndarray'>: {where} mixes a host (NumPy) array with a "
                     "device array; move it with cupy.asarray or .get() (fake CUDA device)")


def _unwrap(value, where):
    """Host memory of device arrays, recursively; a NumPy array is an error (as in CuPy)."""
    if isinstance(value, FakeDeviceArray):
        return value._a
    if isinstance(value, numpy.ndarray):
        raise _mixing_error(where)
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v, where) for v in value)
    return value


def _wrap(value):
    """Results back on the device: arrays and NumPy scalars become device arrays."""
    if isinstance(value, numpy.ndarray):
        return FakeDeviceArray(value)
    if isinstance(value, numpy.generic):
        return FakeDeviceArray(numpy.asarray(value))
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _device_function(function, where):
    def call(*args, **kwargs):
        args = _unwrap(args, where)
        kwargs = {k: _unwrap(v, where) for k, v in kwargs.items()}
        return _wrap(function(*args, **kwargs))
    call.__name__ = getattr(function, "__name__", where)
    return call


def _rebuild(host):
    return FakeDeviceArray(host)


class FakeDeviceArray:
    """An array on the fake device: NumPy memory behind CuPy's rules."""

    __slots__ = ("_a",)
    __hash__ = None

    def __init__(self, host):
        self._a = host

    def _fake_host_view(self):
        """The NumPy memory itself (for the CPU kernel shim only)."""
        return self._a

    def get(self, stream=None):
        """Copy to the host, as ``cupy.ndarray.get``."""
        return self._a.copy()

    def set(self, host, stream=None):
        """Copy the host array ``host`` into this one, as ``cupy.ndarray.set``."""
        if not isinstance(host, numpy.ndarray) or host.shape != self._a.shape:
            raise ValueError(f"set needs a NumPy array of shape {self._a.shape}")
        self._a[...] = host

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct "
                        "a NumPy array explicitly. (fake CUDA device)")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        where = f"numpy.{ufunc.__name__}"
        inputs = _unwrap(inputs, where)
        kwargs = {k: _unwrap(v, where) for k, v in kwargs.items()}
        return _wrap(getattr(ufunc, method)(*inputs, **kwargs))

    def __array_function__(self, function, types_, args, kwargs):
        if function.__name__ not in NAMES:
            raise TypeError(f"cupy has no {function.__name__!r} (fake CUDA device)")
        return _device_function(function, f"numpy.{function.__name__}")(*args, **kwargs)

    def __reduce__(self):
        return _rebuild, (self._a,)

    def __getattr__(self, name):
        # No NumPy protocol (__array_interface__, buffers) may leak the host memory.
        if name in _NOT_ON_DEVICE or name.startswith("__"):
            raise AttributeError(f"cupy.ndarray has no '{name}' (fake CUDA device)")
        value = getattr(self._a, name)
        if callable(value):
            return _device_function(value, f"ndarray.{name}")
        return _wrap(value) if isinstance(value, numpy.ndarray) else value

    # Attributes that are plain values (not forwarded through __getattr__ for speed and clarity).
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    T = property(lambda self: FakeDeviceArray(self._a.T))

    def __getitem__(self, key):
        key = tuple(k._a if isinstance(k, FakeDeviceArray) else k for k in key) if isinstance(key, tuple) \
            else key._a if isinstance(key, FakeDeviceArray) else key
        return _wrap(self._a[key])

    def __setitem__(self, key, value):
        key = tuple(k._a if isinstance(k, FakeDeviceArray) else k for k in key) if isinstance(key, tuple) \
            else key._a if isinstance(key, FakeDeviceArray) else key
        self._a[key] = _unwrap(value, "__setitem__")

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (_wrap(row) for row in self._a)

    def __bool__(self):
        return bool(self._a)

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __index__(self):
        return self._a.__index__()

    def __complex__(self):
        return complex(self._a)

    def __repr__(self):
        return repr(self._a).replace("array(", "fake_device_array(", 1)

    def __format__(self, spec):
        return format(self._a.item() if self._a.ndim == 0 else self._a, spec)


def _binary(ufunc):
    return lambda self, other: ufunc(self, other)


def _reflected(ufunc):
    return lambda self, other: ufunc(other, self)


def _inplace(ufunc):
    def op(self, other):
        ufunc(self, other, out=self)
        return self
    return op


for _name, _ufunc in [("add", numpy.add), ("sub", numpy.subtract), ("mul", numpy.multiply),
                      ("truediv", numpy.true_divide), ("floordiv", numpy.floor_divide), ("mod", numpy.remainder),
                      ("pow", numpy.power), ("matmul", numpy.matmul), ("and", numpy.bitwise_and),
                      ("or", numpy.bitwise_or), ("xor", numpy.bitwise_xor), ("lshift", numpy.left_shift),
                      ("rshift", numpy.right_shift)]:
    setattr(FakeDeviceArray, f"__{_name}__", _binary(_ufunc))
    setattr(FakeDeviceArray, f"__r{_name}__", _reflected(_ufunc))
    setattr(FakeDeviceArray, f"__i{_name}__", _inplace(_ufunc))
for _name, _ufunc in [("lt", numpy.less), ("le", numpy.less_equal), ("gt", numpy.greater),
                      ("ge", numpy.greater_equal), ("eq", numpy.equal), ("ne", numpy.not_equal)]:
    setattr(FakeDeviceArray, f"__{_name}__", _binary(_ufunc))
for _name, _ufunc in [("neg", numpy.negative), ("pos", numpy.positive), ("abs", numpy.absolute),
                      ("invert", numpy.invert)]:
    setattr(FakeDeviceArray, f"__{_name}__", (lambda u: lambda self: u(self))(_ufunc))

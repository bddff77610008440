"""The NumPy/CuPy switch: where layers, losses and optimizers get their array library.

Compute code (``minidl/layers``, ``losses``, ``optim``) never names ``numpy`` or
``cupy``; the modules around it that handle files, random state, kernels and
tests do. Compute code asks for the namespace that owns its arrays::

    xp = backend.get_array_module(x)   # numpy for host arrays, cupy for device ones
    y = xp.maximum(x, 0)

and it creates new arrays with ``backend.xp()``, the namespace of the current
device. The device is NumPy unless ``use("cupy")`` is called or the environment
variable ``MINIDL_DEVICE=gpu`` is set when minidl is imported.

Another CuPy-like module can take CuPy's place: ``install_device_module``.
The tests install the fake CUDA device this way (``minidl.testing.fake_cupy``:
its arrays follow CuPy's rules on NumPy memory, so the GPU code paths run on
machines without a GPU; the test suite does it for ``MINIDL_TEST_DEVICE=fake``).
And ``use_namespace(ns)`` swaps NumPy for another namespace with the same API
(e.g. one that refuses every function CuPy lacks), so the CPU run proves the
GPU code path calls nothing CuPy cannot do.
"""
import os

import numpy

try:  # cupy is optional: the `gpu` extra installs it
    import cupy
except Exception:  # ImportError, or a CUDA library that fails to load
    cupy = None

_device_array_types = (cupy.ndarray,) if cupy is not None else ()
_cpu = numpy  # namespace used for host arrays (NumPy, or a test stand-in)
_device = "cpu"
_default_dtype = numpy.float32


class DeviceError(RuntimeError):
    """Raised when arrays from different devices meet, or no GPU is available."""


def _normalise_device(name):
    name = str(name).lower()
    if name in ("cpu", "numpy", "np"):
        return "cpu"
    if name in ("gpu", "cuda", "cupy", "cp"):
        return "gpu"
    raise ValueError(f"unknown device {name!r}: use 'cpu' (NumPy) or 'gpu' (CuPy)")


def use(device):
    """Select the device for new arrays: ``"numpy"``/``"cpu"`` or ``"cupy"``/``"gpu"``."""
    global _device
    device = _normalise_device(device)
    if device == "gpu":
        _require_gpu()
    _device = device


def _require_gpu():
    if cupy is None:
        raise DeviceError("device 'gpu' needs CuPy: pip install cupy-cuda13x (or cupy-cuda12x for a CUDA 12 driver)")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:  # no driver: CuPy imports, but CUDA calls fail
        raise DeviceError(f"device 'gpu' is not usable: {type(error).__name__}: {error}".splitlines()[0]) from None
    if count == 0:
        raise DeviceError("device 'gpu' is not usable: CUDA reports no GPU")


def install_device_module(namespace, array_types):
    """Let ``namespace`` (a module with CuPy's API) play CuPy, with ``array_types`` (a tuple) as
    its device arrays; returns the previous pair, which restores them when passed back."""
    global cupy, _device_array_types
    previous = cupy, _device_array_types
    cupy, _device_array_types = namespace, tuple(array_types)
    return previous


def test_device():
    """``"fake"`` when the fake CUDA device stands in for CuPy, else None."""
    return "fake" if cupy is not None and type(cupy).__name__ == "FakeNamespace" else None


def device():
    """Name of the current device: ``"cpu"`` or ``"gpu"``."""
    return _device


def use_namespace(namespace):
    """Replace NumPy by ``namespace`` for host arrays; returns the previous one.

    Only for tests: the namespace must accept and return ``numpy.ndarray``.
    """
    global _cpu
    previous, _cpu = _cpu, namespace
    return previous


def xp():
    """The array namespace of the current device."""
    return cupy if _device == "gpu" else _cpu


def is_device_array(a):
    return isinstance(a, _device_array_types)


def get_array_module(*arrays):
    """The namespace that owns ``arrays`` (cupy or numpy); mixing them is an error.

    Non-array arguments (Python scalars, None) are ignored.
    """
    on_gpu = [is_device_array(a) for a in arrays if hasattr(a, "shape")]
    if any(on_gpu):
        if not all(on_gpu):
            raise DeviceError("an operation mixes NumPy (host) and CuPy (device) arrays: "
                              "move them to one device with minidl.to_device")
        return cupy
    return _cpu


def to_numpy(a):
    """Host NumPy copy (or the array itself) of a NumPy or CuPy array."""
    if is_device_array(a):
        return cupy.asnumpy(a)
    return numpy.asarray(a)


def to_device(a, device=None):
    """Move an array to ``device`` (default: the current one)."""
    device = _normalise_device(device or _device)
    if device == "cpu":
        return to_numpy(a)
    if not is_device_array(a):
        _require_gpu()
    return cupy.asarray(a)


# cuBLAS compute types, as CuPy numbers them (cupy/_core/_routines_linalg.pyx).
_COMPUTE_TYPE_DEFAULT, _COMPUTE_TYPE_TF32 = 1, 7


def allow_tf32(enabled=True):
    """Let float32 matrix products on the GPU use TF32 tensor cores (off by default).

    TF32 rounds each float32 input to a 10-bit mantissa before multiplying and
    accumulates in float32: on a Hopper GPU the convolutions' products run
    several times faster, with relative errors near 1e-3 instead of 1e-7. Off,
    GPU results match NumPy's to 1e-4 in float32 (tests/gpu); PyTorch allows
    TF32 in cuDNN's convolutions by default (``torch.backends.cudnn.allow_tf32``).
    """
    _require_gpu()
    if test_device():  # the fake device computes on the host: nothing to switch
        return
    from cupy._core import _routines_linalg
    _routines_linalg.set_compute_type(numpy.float32, _COMPUTE_TYPE_TF32 if enabled else _COMPUTE_TYPE_DEFAULT)


def synchronize(device=None):
    """Wait until the work queued on ``device`` (default: the current one) is done: a timer
    around GPU code otherwise measures only the kernels' launch. Nothing to wait for on the CPU."""
    if _normalise_device(device or _device) == "gpu":
        cupy.cuda.Device().synchronize()


def get_default_dtype():
    return _default_dtype


def set_default_dtype(dtype):
    """Dtype of new parameters: float32 for training, float64 for gradient checks."""
    global _default_dtype
    dtype = numpy.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"default dtype must be a float type, got {dtype}")
    _default_dtype = dtype.type


if os.environ.get("MINIDL_DEVICE"):
    use(os.environ["MINIDL_DEVICE"])

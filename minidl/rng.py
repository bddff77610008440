"""Seeded random numbers for parameter initialisation and dropout masks.

One host generator (NumPy's PCG64) drives initialisation, and dropout on host
arrays; CuPy's own generator drives dropout on device arrays. ``manual_seed``
seeds both, and ``get_state``/``set_state`` capture them so a resumed training
run draws exactly the masks it would have drawn.
"""
import numpy

from minidl import backend

_host = numpy.random.default_rng(0)


def manual_seed(seed):
    """Seed every generator minidl uses."""
    global _host
    _host = numpy.random.default_rng(seed)
    if backend.cupy is not None and backend.device() == "gpu":
        backend.cupy.random.seed(seed)


def host():
    """The host ``numpy.random.Generator`` (initialisation draws from it)."""
    return _host


def uniform_like(x):
    """Uniform [0, 1) samples with the shape, dtype and device of ``x``."""
    if backend.is_device_array(x):
        return backend.cupy.random.random_sample(x.shape).astype(x.dtype, copy=False)
    return _host.random(x.shape, dtype=numpy.float64).astype(x.dtype, copy=False)


def get_state():
    """A picklable snapshot of the host generator's state."""
    return _host.bit_generator.state


def set_state(state):
    _host.bit_generator.state = state

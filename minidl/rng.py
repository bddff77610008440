"""Seeded random numbers for parameter initialisation and dropout masks.

Two streams. The host generator (NumPy's PCG64) drives initialisation, and
dropout on host arrays. Dropout on device arrays draws on the device, from
the counter-based Philox4x32-10 (``minidl/kernels/philox.cu``): draw number k
of a run seeded s is Philox keyed by s on stream k, a pure function of (s, k,
element index). So the device stream's whole state is the pair (s, k), small
and exact to checkpoint, and a new draw costs no seeding at all (cuRAND's
XORWOW, which this replaced, ran a setup pass over its state for every draw).

``manual_seed`` seeds both; ``get_state``/``set_state`` capture and restore both,
so a resumed training run, on the CPU or the GPU, draws exactly the masks it
would have drawn.
"""
import numpy

from minidl import backend
from minidl.kernels.launch import launch

_host = numpy.random.default_rng(0)
_device = {"seed": 0, "draws": 0}


def manual_seed(seed):
    """Seed every generator minidl uses (host and device)."""
    global _host
    _host = numpy.random.default_rng(seed)
    _device.update(seed=int(seed), draws=0)


def host():
    """The host ``numpy.random.Generator`` (initialisation draws from it)."""
    return _host


def uniform_like(x):
    """Uniform [0, 1) samples with the shape, dtype and device of ``x``."""
    if backend.is_device_array(x):
        out = backend.cupy.empty(x.shape, dtype=x.dtype)
        per_block = 4 if out.dtype == numpy.float32 else 2  # uniforms from one Philox block
        key, stream = _device["seed"] % 2 ** 63, _device["draws"]
        _device["draws"] += 1
        launch("philox_uniform", -(-out.size // per_block), out, out.size, key, stream)
        return out
    return _host.random(x.shape, dtype=numpy.float64).astype(x.dtype, copy=False)


def get_state():
    """A JSON-able snapshot of both generators: ``{"host": ..., "device": {"seed", "draws"}}``."""
    return {"host": _host.bit_generator.state, "device": dict(_device)}


def set_state(state):
    """Restore ``get_state()``'s snapshot (or an older host-only one)."""
    if "host" not in state:  # checkpoints written before the device stream was saved
        _host.bit_generator.state = state
        return
    _host.bit_generator.state = state["host"]
    _device.update(seed=int(state["device"]["seed"]), draws=int(state["device"]["draws"]))

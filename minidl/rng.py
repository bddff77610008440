"""Seeded random numbers for parameter initialisation and dropout masks.

Two streams. The host generator (NumPy's PCG64) drives initialisation, and
dropout on host arrays. Dropout on device arrays draws on the device, from
CuPy's cuRAND generator: draw number k of a run seeded s comes from that
generator seeded with a number derived from (s, k), so the device stream's
whole state is the pair (s, k), small and exact to checkpoint (CuPy's generator
has no portable state of its own to save).

``manual_seed`` seeds both; ``get_state``/``set_state`` capture and restore both,
so a resumed training run, on the CPU or the GPU, draws exactly the masks it
would have drawn.
"""
import numpy

from minidl import backend

_host = numpy.random.default_rng(0)
_device = {"seed": 0, "draws": 0}
_device_generator = {}  # the CuPy namespace -> its reusable RandomState


def manual_seed(seed):
    """Seed every generator minidl uses (host and device)."""
    global _host
    _host = numpy.random.default_rng(seed)
    _device.update(seed=int(seed), draws=0)


def host():
    """The host ``numpy.random.Generator`` (initialisation draws from it)."""
    return _host


def _device_seed():
    """Seed of the next device draw: a hash of (seed, draw number), advancing the draw number."""
    words = numpy.random.SeedSequence([_device["seed"] % 2 ** 63, _device["draws"]]).generate_state(2)
    _device["draws"] += 1
    return numpy.uint64(int(words[0]) << 32 | int(words[1]))  # the seed type CuPy itself passes


def uniform_like(x):
    """Uniform [0, 1) samples with the shape, dtype and device of ``x``."""
    if backend.is_device_array(x):
        cupy = backend.cupy
        generator = _device_generator.get(id(cupy))
        if generator is None:
            generator = _device_generator[id(cupy)] = cupy.random.RandomState()
        generator.seed(_device_seed())
        return generator.random_sample(x.shape, dtype=x.dtype)
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

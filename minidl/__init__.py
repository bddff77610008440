"""minidl: a deep-learning engine written by hand in NumPy, with a CuPy backend.

    import minidl as md
    model = md.Sequential(md.Conv2d(4, 32, 3, padding=1), md.ReLU(), ...)
"""
from minidl import backend, init, rng
from minidl.backend import get_array_module, to_device, to_numpy, use
from minidl.module import Module, Parameter, StateDictError, load_arrays, save_arrays
from minidl.rng import manual_seed

__all__ = [
    "backend", "init", "rng", "get_array_module", "to_device", "to_numpy", "use",
    "Module", "Parameter", "StateDictError", "load_arrays", "save_arrays", "manual_seed",
]

"""minidl: a deep-learning engine written by hand in NumPy, with a CuPy backend.

    import minidl as md
    model = md.Sequential(md.Conv2d(4, 32, 3, padding=1), md.ReLU(), ...)
    criterion = md.losses.BCEWithLogitsLoss()
    optimizer = md.optim.Adam(model.parameters(), lr=1e-3)
"""
from minidl import backend, host_memory, init, losses, optim, rng
from minidl.backend import get_array_module, to_device, to_numpy, use
from minidl.grad_mode import is_grad_enabled, no_grad
from minidl.layers import *  # noqa: F403  (the layer classes, as in torch.nn)
from minidl.layers import __all__ as _layer_names
from minidl.losses import BCEWithLogitsLoss, CrossEntropyLoss, FocalLoss, SoftF1Loss
from minidl.module import Module, Parameter, StateDictError, load_arrays, save_arrays
from minidl.prefetch import DevicePrefetcher
from minidl.rng import manual_seed

__all__ = [
    *_layer_names,
    "backend", "host_memory", "init", "losses", "optim", "rng", "get_array_module", "to_device", "to_numpy", "use",
    "is_grad_enabled", "no_grad",
    "BCEWithLogitsLoss", "CrossEntropyLoss", "FocalLoss", "SoftF1Loss",
    "Module", "Parameter", "StateDictError", "load_arrays", "save_arrays", "manual_seed",
    "DevicePrefetcher",
]

"""Parameter initialisation, with PyTorch's defaults.

PyTorch initialises ``Linear`` and ``Conv2d`` weights with Kaiming-uniform
(a = sqrt(5)), which works out to U(-b, b) with b = 1/sqrt(fan_in); biases use
the same bound. ``kaiming_normal`` (He et al. 2015, std = sqrt(2/fan_in)) suits
ReLU networks trained from scratch, ``lecun_normal`` (std = sqrt(1/fan_in))
suits SELU networks.
"""
import numpy

from minidl import backend, rng


def _new(values):
    dtype = backend.get_default_dtype()
    return backend.to_device(values.astype(dtype), backend.device())


def uniform(shape, bound):
    """U(-bound, bound) on the current device in the default dtype."""
    return _new(rng.host().uniform(-bound, bound, size=shape))


def normal(shape, std):
    return _new(rng.host().normal(0.0, std, size=shape))


def fan_in(shape):
    """Inputs feeding one output: ``in`` for (out, in), ``in*kh*kw`` for conv weights."""
    return int(numpy.prod(shape[1:]))


def torch_default(shape):
    """PyTorch's default for Linear/Conv2d weights: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    return uniform(shape, 1.0 / numpy.sqrt(fan_in(shape)))


def kaiming_normal(shape):
    return normal(shape, numpy.sqrt(2.0 / fan_in(shape)))


def lecun_normal(shape):
    return normal(shape, numpy.sqrt(1.0 / fan_in(shape)))


def zeros(shape):
    return backend.xp().zeros(shape, dtype=backend.get_default_dtype())


def ones(shape):
    return backend.xp().ones(shape, dtype=backend.get_default_dtype())

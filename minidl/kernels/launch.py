"""Launch a kernel by name on whatever holds its arrays.

    launch("relu_forward", x.size, x, y, mask, x.size)

runs the kernel over ``total`` work items with a 1-D grid of ``block``-thread
blocks: ceil(total / block) blocks, capped at ``MAX_BLOCKS`` (every kernel here
loops with a grid stride, so fewer blocks still cover everything). The arrays
decide where it runs: CuPy arrays on the GPU through ``cupy.RawModule``; NumPy
arrays, or the test suite's fake device arrays, through the serial CPU shim.
Either way the arguments are checked against the signature in the source:
arrays must be C-contiguous with the dtype the parameter names (``real``, the
float type of the call, ``int`` int32, ``bool``), scalars are converted to
the parameter's C type.
"""
import contextlib

import numpy

from minidl.kernels import catalog, cpu_shim, cupy_loader

BLOCK = 256
MAX_BLOCKS = 1 << 16
_INTEGER_TYPES = {"int": numpy.int32, "long long": numpy.int64}
_ARRAY_DTYPES = {"int*": numpy.dtype(numpy.int32), "bool*": numpy.dtype(numpy.bool_),
                 "unsigned char*": numpy.dtype(numpy.uint8), "long long*": numpy.dtype(numpy.int64)}


class KernelArgumentError(TypeError):
    """A kernel was called with arguments that do not fit its signature."""


def _host_view(array):
    """The NumPy array behind ``array`` for the CPU shim, or None for a CuPy array."""
    if isinstance(array, numpy.ndarray):
        return array
    view = getattr(array, "_fake_host_view", None)  # tests' fake device arrays
    return view() if view is not None else None


_config = {"block": BLOCK, "max_blocks": MAX_BLOCKS}


@contextlib.contextmanager
def configured(block=BLOCK, max_blocks=MAX_BLOCKS):
    """Launch every kernel with ``block`` threads per block and at most ``max_blocks``
    blocks inside the ``with``: tests use small ones so the last block is partial and
    the grid-stride loops go round more than once."""
    previous = dict(_config)
    _config.update(block=block, max_blocks=max_blocks)
    try:
        yield
    finally:
        _config.update(previous)


def grid_size(total, block, max_blocks):
    """Blocks of ``block`` threads for ``total`` items: ceil(total / block), at most ``max_blocks``."""
    return max(1, min(-(-int(total) // block), max_blocks))


def _check_integer(name, param, value):
    """An integer argument must be a whole number that its C type holds: checked here, once,
    because the CPU shim would wrap it silently and CuPy's conversion would raise."""
    if isinstance(value, (bool, numpy.bool_)) or not isinstance(value, (int, numpy.integer)):
        raise KernelArgumentError(f"{name}: {param.name} must be an integer, got {value!r}")
    limits = numpy.iinfo(_INTEGER_TYPES[param.kind])
    if not limits.min <= int(value) <= limits.max:
        raise KernelArgumentError(f"{name}: {param.name} = {int(value)} does not fit the kernel's "
                                  f"{param.kind} ({limits.min} to {limits.max})")


def address(array):
    """The address of ``array``'s memory as a kernel's pointer table holds it: a device
    pointer for a CuPy array, the host memory for NumPy (and fake device) arrays."""
    host = _host_view(array)
    return host.ctypes.data if host is not None else array.data.ptr


def launch(name, total, *args, precision=None):
    """Run kernel ``name`` with ``args`` (in the source's order) over ``total`` items.
    ``precision`` ("float32"/"float64") is needed only by a kernel without ``real`` arrays."""
    block, max_blocks = _config["block"], _config["max_blocks"]
    try:
        _, params = catalog.all_kernels()[name]
    except KeyError:
        raise KeyError(f"no kernel named {name!r}; known: {', '.join(sorted(catalog.all_kernels()))}") from None
    if len(args) != len(params):
        raise KernelArgumentError(f"{name} takes {len(params)} arguments ({params}), got {len(args)}")
    reals = [a.dtype for p, a in zip(params, args) if p.kind == "real*"] or \
        ([numpy.dtype(precision)] if precision in ("float32", "float64") else [])
    if not reals or reals[0] not in (numpy.float32, numpy.float64):
        raise KernelArgumentError(f"{name}: its real arrays (or precision) must be float32 or float64")
    precision = reals[0].name
    for param, value in zip(params, args):
        if param.is_array:
            expected = reals[0] if param.kind == "real*" else _ARRAY_DTYPES[param.kind]
            if value.dtype != expected or not value.flags.c_contiguous:
                raise KernelArgumentError(f"{name}: {param.name} must be a C-contiguous {expected} array, "
                                          f"got {value.dtype} (contiguous: {value.flags.c_contiguous})")
        elif param.kind in _INTEGER_TYPES:
            _check_integer(name, param, value)
    if len({type(a) for p, a in zip(params, args) if p.is_array}) > 1:
        raise KernelArgumentError(f"{name}: its arrays mix host and device arrays")
    grid = grid_size(total, block, max_blocks)
    hosts = [_host_view(a) for p, a in zip(params, args) if p.is_array]
    if hosts[0] is not None:  # NumPy, or the fake device's NumPy memory: the CPU shim
        host_args = iter(hosts)
        cpu_shim.launch(name, grid, block, precision,
                        [next(host_args) if p.is_array else v for p, v in zip(params, args)])
        return
    real = numpy.dtype(precision).type
    device_args = tuple(v if p.is_array else real(v) if p.kind == "real" else _INTEGER_TYPES[p.kind](v)
                        for p, v in zip(params, args))
    cupy_loader.function(name, precision)((grid,), (block,), device_args)

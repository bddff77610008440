"""Kernels on the GPU: each ``.cu`` source compiled by CuPy's ``RawModule``.

CuPy compiles a source with NVRTC on first use and caches the binary on disk
(``~/.cupy/kernel_cache``), so a kernel costs a compile once per machine.
Importing this module does not import CuPy; calling it without CuPy raises.
"""
import functools

from minidl.kernels import catalog


@functools.lru_cache(maxsize=None)
def _module(source, precision):
    import cupy  # only here: the GPU path is the only one that needs it
    return cupy.RawModule(code=catalog.source_code(source), options=catalog.PRECISIONS[precision])


def function(name, precision):
    """The ``cupy.RawKernel`` of kernel ``name`` compiled for ``precision`` ("float32"/"float64")."""
    source, _ = catalog.all_kernels()[name]
    return _module(str(source), precision).get_function(name)

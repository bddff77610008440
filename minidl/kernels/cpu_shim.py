"""Kernels on the CPU: each ``.cu`` source built with g++ through ``cpu_shim.h``.

For a source ``im2col.cu`` and a precision, this writes a small C++ file

    #include "cpu_shim.h"
    #include "im2col.cu"
    extern "C" void minidl_launch_im2col(unsigned grid, unsigned block, <im2col's parameters>)
    { minidl_shim::launch(dim3(grid), dim3(block), im2col, <parameter names>); }

builds it into a shared library and opens it with ``ctypes``. The library is
cached by a hash of the header, the source and the compiler flags, so a test
run builds each source once, and again only when one of them changes.

A cached library runs as the user who loads it, so the cache must be private
(:mod:`minidl.kernels.kernel_cache`): ``$MINIDL_KERNEL_CACHE``, else
``$XDG_CACHE_HOME/minidl/kernels`` or ``~/.cache/minidl/kernels``, made with
mode 0700; a folder (or library) owned by another user or writable by group
or others is refused. Each build is compiled in a private temporary folder
inside the cache and renamed into place, so a library is whole or absent.
"""
import ctypes
import functools
import hashlib
import os
import pathlib
import shutil
import subprocess
import tempfile

from minidl.kernels import catalog
from minidl.kernels.kernel_cache import KernelCacheError, cache_dir, check_private, default_folder  # noqa: F401

COMPILER = os.environ.get("CXX", "g++")
FLAGS = ("-std=c++17", "-O2", "-shared", "-fPIC", "-fno-fast-math", "-ffp-contract=off")
_CTYPES = {"int": ctypes.c_int, "long long": ctypes.c_longlong}


class ShimError(RuntimeError):
    """The CPU build of a kernel source failed (or no C++ compiler is installed)."""


def wrapper_code(source):
    """The C++ translation unit that exposes each kernel of ``source`` as a serial launcher."""
    lines = ['#include "cpu_shim.h"', f'#include "{pathlib.Path(source).name}"']
    for name, params in catalog.kernels_in(source).items():
        decl = ", ".join(_c_decl(p) for p in params)
        call = ", ".join(p.name for p in params)
        lines.append(f'extern "C" void minidl_launch_{name}(unsigned grid, unsigned block, {decl})\n'
                     f"{{ minidl_shim::launch(dim3(grid), dim3(block), {name}, {call}); }}")
    return "\n".join(lines) + "\n"


def _c_decl(param):
    const = "const " if param.is_array and not param.writes else ""
    return f"{const}{param.kind} {param.name}"


def library_name(source, precision):
    """``<stem>-<precision>-<hash>.so``: the hash covers the header, source, wrapper, compiler and flags."""
    source = pathlib.Path(source)
    flags = FLAGS + catalog.PRECISIONS[precision]
    digest = hashlib.sha256("\0".join([catalog.SHIM_HEADER.read_text(), catalog.source_code(source), wrapper_code(source),
                                       COMPILER, *flags]).encode()).hexdigest()[:16]
    return f"{source.stem}-{precision}-{digest}.so"


def library_path(source, precision):
    """Build (once) and return the shared library of ``source`` for ``precision``.

    Raises :class:`KernelCacheError` when the cache folder, or a library
    already in it, is not private to this user (nothing of it is loaded).
    """
    source = pathlib.Path(source)
    flags = FLAGS + catalog.PRECISIONS[precision]
    code = wrapper_code(source)
    folder = cache_dir()
    target = folder / library_name(source, precision)
    if os.path.lexists(target):
        check_private(target, "library")
        return target
    if shutil.which(COMPILER) is None:
        raise ShimError(f"the CPU kernel shim needs a C++ compiler: {COMPILER} not found")
    with tempfile.TemporaryDirectory(dir=folder) as work:  # mkdtemp: 0700, unpredictable name
        unit = pathlib.Path(work) / f"{source.stem}_shim.cpp"
        unit.write_text(code)
        built = pathlib.Path(work) / target.name
        result = subprocess.run([COMPILER, *flags, f"-I{catalog.FOLDER}", str(unit), "-o", str(built)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise ShimError(f"g++ failed on {source.name} ({precision}):\n{result.stderr.strip()}")
        os.chmod(built, 0o700)  # whatever the umask: the check above refuses group/other-writable files
        os.replace(built, target)  # atomic: a concurrent build of the same hash is identical
    return target


def _library(source, precision):
    """The loaded library of ``source``, once per cache folder setting: pointing
    MINIDL_KERNEL_CACHE elsewhere checks (and may refuse) the new folder."""
    return _load(source, precision, os.environ.get("MINIDL_KERNEL_CACHE") or str(default_folder()))


@functools.lru_cache(maxsize=None)
def _load(source, precision, folder_setting):
    return ctypes.CDLL(str(library_path(source, precision)))  # checked private just before


def launch(name, grid, block, precision, host_args):
    """Run kernel ``name`` serially over ``grid`` blocks of ``block`` threads.

    ``host_args`` are the kernel's arguments in order: C-contiguous NumPy arrays
    for the pointers, Python numbers for the scalars.
    """
    source, params = catalog.all_kernels()[name]
    function = getattr(_library(str(source), precision), f"minidl_launch_{name}")
    real = ctypes.c_double if precision == "float64" else ctypes.c_float
    converted = [ctypes.c_uint(grid), ctypes.c_uint(block)]
    for param, value in zip(params, host_args):
        if param.is_array:
            converted.append(ctypes.c_void_p(value.ctypes.data))
        else:
            converted.append((real if param.kind == "real" else _CTYPES[param.kind])(value))
    function.restype = None
    function(*converted)

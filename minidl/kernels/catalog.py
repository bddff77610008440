"""The kernel sources in this folder and the signatures of their kernels.

Each ``*.cu`` file holds one layer family; each ``extern "C" __global__`` function
in it is a kernel. Its parameter list is read from the source, so the CuPy
loader and the CPU shim both know how to pass every argument (arrays as
pointers, ``int`` as int32, ``long long`` as int64, ``real`` as the float type
the file was compiled for) without a second copy of the signature in Python.
"""
import functools
import pathlib
import re

FOLDER = pathlib.Path(__file__).parent
SHIM_HEADER = FOLDER / "cpu_shim.h"
# The float types each source is compiled for, and the define that selects each.
PRECISIONS = {"float32": (), "float64": ("-DMINIDL_DOUBLE",)}

_KERNEL = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)')
# Parameter types -> kind: an array of reals, int32, bool, uint8 (images), int64 (addresses), or a scalar.
_TYPES = {"real*": "real*", "int*": "int*", "bool*": "bool*", "unsigned char*": "unsigned char*",
          "long long*": "long long*",
          "int": "int", "long long": "long long", "real": "real"}


class Param:
    """One kernel parameter: its C ``kind`` (a key of ``_TYPES``) and name."""

    def __init__(self, kind, name, writes):
        self.kind, self.name, self.writes = kind, name, writes

    @property
    def is_array(self):
        return self.kind.endswith("*")

    def __repr__(self):
        return f"{self.kind} {self.name}"


def _parse_param(text, kernel):
    words = text.replace("__restrict__", " ").replace("*", " * ").split()
    const = "const" in words
    words = [w for w in words if w != "const"]
    name, ctype = words[-1], " ".join(words[:-1]).replace(" *", "*")
    if ctype not in _TYPES:
        raise ValueError(f"kernel {kernel}: parameter type {ctype!r} of {name} is not one the loader knows")
    return Param(_TYPES[ctype], name, writes=ctype.endswith("*") and not const)


_INCLUDE = re.compile(r'^#include "(\w+\.cuh)"$', re.M)


def source_code(source):
    """The text of ``source`` with each ``#include "x.cuh"`` of this folder written in place.

    A shared device function (the Philox rounds) lives once in a ``.cuh``; the
    GPU loader hands NVRTC this expanded text, which has no include path, and
    the CPU shim hashes it, so a change to the header rebuilds its users.
    """
    return _INCLUDE.sub(lambda m: (FOLDER / m.group(1)).read_text(), pathlib.Path(source).read_text())


def sources():
    """Paths of the kernel sources, sorted by name."""
    return sorted(FOLDER.glob("*.cu"))


@functools.lru_cache(maxsize=None)
def kernels_in(source):
    """{kernel name: [Param, ...]} of the ``extern "C" __global__`` kernels in ``source``."""
    text = pathlib.Path(source).read_text()
    return {name: [_parse_param(p, name) for p in params.split(",")]
            for name, params in _KERNEL.findall(text)}


@functools.lru_cache(maxsize=None)
def all_kernels():
    """{kernel name: (source path, [Param, ...])} for every kernel of every source."""
    table = {}
    for source in sources():
        for name, params in kernels_in(source).items():
            if name in table:
                raise ValueError(f"kernel {name} is defined in {table[name][0].name} and {source.name}")
            table[name] = (source, params)
    return table

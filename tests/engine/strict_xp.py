"""A NumPy namespace that refuses every name CuPy does not have.

Installed with ``minidl.backend.use_namespace`` it makes a CPU test run fail
as soon as engine code calls a NumPy function that would not exist on the GPU.
The allowed names come from ``minidl/testing/cupy_names.txt``, listed from an installed CuPy.
"""
import numpy

from minidl.testing import cupy_names

ALLOWED = cupy_names()
# Submodules such as "random" or "lib.stride_tricks": every proper prefix of a dotted name.
SUBMODULES = frozenset(".".join(name.split(".")[:i]) for name in ALLOWED
                       for i in range(1, name.count(".") + 1))


class StrictNamespace:
    """Attribute access on ``target`` restricted to CuPy's names under ``prefix``."""

    def __init__(self, target=numpy, prefix=""):
        self._target = target
        self._prefix = prefix

    def __getattr__(self, name):
        full = self._prefix + name
        if full in SUBMODULES:
            return StrictNamespace(getattr(self._target, name), full + ".")
        if full not in ALLOWED:
            raise AttributeError(f"cupy has no '{full}': this engine code would fail on the GPU")
        return getattr(self._target, name)

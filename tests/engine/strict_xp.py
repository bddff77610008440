"""A NumPy namespace that refuses every name CuPy does not have.

Installed with ``minidl.backend.use_namespace`` it makes a CPU test run fail
as soon as engine code calls a NumPy function that would not exist on the GPU.
The allowed names come from ``cupy_names.txt``, listed from an installed CuPy.
"""
import pathlib

import numpy

_NAMES_FILE = pathlib.Path(__file__).with_name("cupy_names.txt")
ALLOWED = frozenset(line.strip() for line in _NAMES_FILE.read_text().splitlines()
                    if line.strip() and not line.startswith("#"))
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

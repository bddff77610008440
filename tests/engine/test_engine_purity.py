"""Compute code reaches arrays only through minidl.backend.

Layers, losses and optimizers must not import numpy or cupy: a direct numpy
call would silently move GPU data to the host, or fail on the GPU. The
host-only modules (the backend itself, initialisation and random draws on the
host, serialisation, the checker, the benchmark) are the exceptions.
"""
import ast
import pathlib

import minidl

ROOT = pathlib.Path(minidl.__file__).parent
COMPUTE_PACKAGES = ("layers", "losses", "optim")


def _imported_modules(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_compute_code_never_imports_numpy_or_cupy():
    files = [p for pkg in COMPUTE_PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]
    assert files, "no compute modules found"
    offenders = [f"{p.relative_to(ROOT)} imports {name}" for p in files
                 for name in _imported_modules(p) if name.split(".")[0] in ("numpy", "cupy")]
    assert not offenders, "; ".join(offenders)


def test_no_add_at_in_compute_code():
    files = [p for pkg in COMPUTE_PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]
    offenders = [str(p.relative_to(ROOT)) for p in files if ".add.at(" in p.read_text()]
    assert not offenders, "add.at in hot paths: " + ", ".join(offenders)

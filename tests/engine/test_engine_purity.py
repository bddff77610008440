"""Compute code reaches arrays only through minidl.backend, and never leaves the device.

Layers, losses, optimizers and the hpa networks must not import numpy or cupy:
a direct numpy call would silently move GPU data to the host, or fail on the
GPU. Nor may they copy an array to the host (``backend.to_numpy``, CuPy's
``asnumpy``) to compute there: on the GPU that is a transfer per call, and the
result comes back as a NumPy array. The host-side helpers of state dicts and
constants are the only places allowed to. The host-only modules (the backend
itself, initialisation and random draws on the host, serialisation, the
checker, the benchmarks, checkpoint files) are outside these folders. And the engine
stands alone: it imports nothing from hpa or the tests, its core nothing from
its benchmarks (minidl/bench), and those only minidl and, optionally, torch.

These checks read names; that a layer's output really stays on the device is
for the GPU tests (and a device-faithful fake backend) to show.
"""
import ast
import pathlib
import sys

import hpa.models
import minidl

ROOT = pathlib.Path(minidl.__file__).parent
COMPUTE_PACKAGES = ("layers", "losses", "optim", "ops", "fast_cpu")
# The ops table's tools (lookup, the map, the check runner): not compute code.
OPS_TOOLS = {"registry.py", "table.py", "check.py", "__main__.py"}
MODELS = pathlib.Path(hpa.models.__file__).parent
HOST_SIDE_MODULES = ("checkpoint.py", "checkpoint_file.py", "checkpoint_meta.py", "pretrained.py")  # weight files
# Functions that may copy to the host: they run once per run or per checkpoint, not per step.
HOST_SIDE_FUNCTIONS = {"__init__", "state_dict", "load_state_dict", "_host_copy", "_to_param"}
HOST_COPIES = {"to_numpy", "asnumpy"}


def _compute_files():
    files = [p for pkg in COMPUTE_PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))
             if not (pkg == "ops" and p.name in OPS_TOOLS)]
    files += [p for p in sorted(MODELS.rglob("*.py")) if p.name not in HOST_SIDE_MODULES]
    assert len(files) > 20, "compute modules not found"
    return files


def _name(path):
    return str(path.relative_to(ROOT.parent))


def _imported_modules(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def _host_copies(path):
    """(function, line) of every call to ``to_numpy``/``asnumpy`` outside HOST_SIDE_FUNCTIONS."""
    def visit(node, function):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            function = node.name
        if isinstance(node, ast.Call):
            called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if called in HOST_COPIES and function not in HOST_SIDE_FUNCTIONS:
                yield function, node.lineno
        for child in ast.iter_child_nodes(node):
            yield from visit(child, function)

    yield from visit(ast.parse(path.read_text()), "<module>")


def test_compute_code_never_imports_numpy_or_cupy():
    offenders = [f"{_name(p)} imports {name}" for p in _compute_files()
                 for name in _imported_modules(p) if name.split(".")[0] in ("numpy", "cupy")]
    assert not offenders, "; ".join(offenders)


def test_compute_code_never_copies_to_the_host():
    offenders = [f"{_name(p)}:{line} in {function}()" for p in _compute_files()
                 for function, line in _host_copies(p)]
    assert not offenders, "host copies in compute code: " + ", ".join(offenders)


def test_the_host_copy_check_can_fail(tmp_path):
    layer = tmp_path / "layer.py"
    layer.write_text("from minidl import backend\n\nclass L:\n    def forward(self, x):\n"
                     "        return backend.xp().asarray(backend.to_numpy(x) * 2)\n\n"
                     "    def state_dict(self):\n        return backend.to_numpy(self.w)\n")
    assert list(_host_copies(layer)) == [("forward", 5)]


def test_no_add_at_in_compute_code():
    offenders = [_name(p) for p in _compute_files() if ".add.at(" in p.read_text()]
    assert not offenders, "add.at in hot paths: " + ", ".join(offenders)


# The engine stands alone: nothing in minidl imports hpa or the tests (not even their helpers
# by bare name), and its core nothing from its benchmarks (minidl/bench).
TEST_HELPERS = {p.stem for p in pathlib.Path(__file__).resolve().parents[1].rglob("*.py")}
LOADERS = {"import_module", "spec_from_file_location", "run_module", "run_path", "__import__"}


def _loaded_by_name(path):
    """Modules and paths named as strings to importlib/runpy in ``path``."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if called in LOADERS:
                yield from (a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str))


def _foreign_imports(path):
    for name in _imported_modules(path):
        top = name.split(".")[0]
        if top in ("hpa", "tests") or top in TEST_HELPERS:
            yield name
    for text in _loaded_by_name(path):
        if text.split(".")[0] in ("hpa", "tests") or "tests/" in text or "hpa/" in text:
            yield text


def _bench_imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "minidl":
            yield from (f"minidl.{a.name}" for a in node.names if a.name == "bench")
    yield from (n for n in _imported_modules(path) if n == "minidl.bench" or n.startswith("minidl.bench."))


def test_the_engine_imports_nothing_from_hpa_or_the_tests():
    offenders = [f"{_name(p)} imports {name}" for p in sorted(ROOT.rglob("*.py")) for name in _foreign_imports(p)]
    assert not offenders, "; ".join(offenders)


def test_the_engine_core_imports_nothing_from_its_benchmarks():
    core = [p for p in sorted(ROOT.rglob("*.py")) if (ROOT / "bench") not in p.parents]
    assert len(core) > 50
    offenders = [f"{_name(p)} imports {name}" for p in core for name in _bench_imports(p)]
    assert not offenders, "; ".join(offenders)


def test_the_import_checks_can_fail(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import importlib\nfrom hpa.models import GapNet\nimport parity\nfrom minidl import bench\n"
                      "from minidl.bench.layers import main\n"
                      "spec = importlib.util.spec_from_file_location('t', 'tests/hpa/twins.py')\n")
    assert list(_foreign_imports(module)) == ["hpa.models", "parity", "tests/hpa/twins.py"]
    assert sorted(_bench_imports(module)) == ["minidl.bench", "minidl.bench.layers"]


def test_the_engine_benchmarks_import_only_minidl_and_optionally_torch():
    allowed = set(sys.stdlib_module_names) | {"numpy", "minidl", "torch", "threadpoolctl"}
    files = sorted((ROOT / "bench").rglob("*.py"))
    assert files, "minidl/bench not found"
    offenders = [f"{_name(p)} imports {name}" for p in files for name in _imported_modules(p)
                 if name.split(".")[0] not in allowed]
    assert not offenders, "; ".join(offenders)


def test_layers_never_test_the_device():
    """Layers ask the ops table for an implementation; only the table looks at the device."""
    offenders = [_name(p) for p in sorted((ROOT / "layers").rglob("*.py")) if "is_device_array" in p.read_text()]
    assert not offenders, "device tests in layers: " + ", ".join(offenders)

"""The compiled kernels' switch, and the op table without the ``fast`` extra.

``MINIDL_COMPILED=0`` (read at every lookup) makes them decline, so the NumPy
fast path serves; without numba nothing of ``minidl.compiled`` registers, and
importing it is silent.
"""
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from minidl import compiled
from minidl.ops import registry

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.skipif("numba_onepass" not in [i.name for i in registry.get("relu").implementations],
                    reason="numba not installed, or MINIDL_COMPILED=0 as the op table loaded")
def test_minidl_compiled_0_hands_every_op_to_the_numpy_path(monkeypatch):
    monkeypatch.delenv("MINIDL_IMPL", raising=False)
    monkeypatch.delenv("MINIDL_COMPILED", raising=False)
    x = np.ones((2, 3, 4, 4), np.float32)
    assert registry.choose("batch_norm", "cpu", x).name == "numba_channels"
    monkeypatch.setenv("MINIDL_COMPILED", "0")
    assert registry.choose("batch_norm", "cpu", x).name == "inplace_centred"
    assert registry.choose("adam", "cpu", x).name == "blocked"
    assert registry.choose("max_pool2d", "cpu", x, kernel_size=(2, 2), stride=(2, 2), padding=(0, 0)).name \
        == "halving_2x2"
    assert registry.choose("relu", "cpu", x) is None  # the reference
    monkeypatch.setenv("MINIDL_COMPILED", "1")
    assert registry.choose("relu", "cpu", x).name == "numba_onepass"


def test_a_bad_minidl_compiled_value_is_refused(monkeypatch):
    monkeypatch.setenv("MINIDL_COMPILED", "yes")
    with pytest.raises(ValueError, match="MINIDL_COMPILED='yes'"):
        compiled.enabled()


SWITCHED_OFF = """
from minidl.ops import registry
print(" ".join(i.name for i in registry.get("batch_norm").candidates("cpu")))
"""


def test_minidl_compiled_0_as_the_table_loads_leaves_the_kernels_out():
    env = {k: v for k, v in os.environ.items() if k != "MINIDL_IMPL"}
    env["MINIDL_COMPILED"] = "0"
    done = subprocess.run([sys.executable, "-c", SWITCHED_OFF], capture_output=True, text=True, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["inplace_centred"]


NO_NUMBA = """
import sys
sys.modules["numba"] = None  # import numba now raises ImportError, as when it is not installed
import numpy as np
from minidl import compiled, layers
from minidl.ops import registry
names = [i.name for op in registry.ops().values() for i in op.implementations]
x = np.linspace(-1, 1, 24).reshape(2, 3, 2, 2)
relu = layers.ReLU()
print(compiled.AVAILABLE, compiled.enabled(), any(n.startswith("numba") for n in names),
      bool((relu(x) == np.maximum(x, 0)).all()), registry.choose("batch_norm", "cpu", x).name)
"""


def test_without_numba_nothing_registers_and_the_numpy_path_serves():
    env = {k: v for k, v in os.environ.items() if k not in ("MINIDL_IMPL", "MINIDL_COMPILED")}
    done = subprocess.run([sys.executable, "-c", NO_NUMBA], capture_output=True, text=True, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # silent
    assert done.stdout.split() == ["False", "False", "False", "True", "inplace_centred"]

"""Test machinery that ships with minidl: the fake CUDA device (``fake_cupy``)
and the list of CuPy's public names both the fake device and the tests' strict
NumPy namespace allow."""
import pathlib

NAMES_FILE = pathlib.Path(__file__).with_name("cupy_names.txt")


def cupy_names():
    """CuPy's public names (``random.seed``, ``lib.stride_tricks.as_strided``, ...) as a frozenset."""
    return frozenset(line.strip() for line in NAMES_FILE.read_text().splitlines()
                     if line.strip() and not line.startswith("#"))

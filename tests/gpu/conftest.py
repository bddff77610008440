"""tests/gpu: minidl on CuPy against NumPy. ``python -m pytest -m gpu``.

Every test here is marked ``gpu``. It runs on a CUDA GPU with CuPy, and on the
fake CUDA device in the ``MINIDL_TEST_DEVICE=fake`` pass (so the suite itself
is exercised on machines without a GPU); anywhere else it is skipped, with the
reason printed by ``-ra``.
"""
import pathlib

import pytest

from minidl import backend

HERE = pathlib.Path(__file__).parent


def gpu_status():
    """(usable, reason): whether a CUDA device (or the fake one) can run these tests."""
    if backend.test_device():
        return True, "fake CUDA device"
    if backend.cupy is None:
        return False, "CuPy is not installed (pip install cupy-cuda13x or cupy-cuda12x)"
    try:
        count = backend.cupy.cuda.runtime.getDeviceCount()
    except Exception as error:  # CuPy imports, but there is no driver
        return False, f"no usable CUDA device: {type(error).__name__}: {error}".splitlines()[0]
    return (count > 0), ("CUDA reports no GPU" if count == 0 else f"{count} GPU(s)")


USABLE, REASON = gpu_status()


def pytest_collection_modifyitems(config, items):
    if USABLE:
        return
    for item in items:
        if HERE in pathlib.Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.skip(reason=f"GPU tests: {REASON}"))


@pytest.fixture(autouse=True)
def on_gpu():
    """'gpu' is the current device during each test, with strict float32 products (no TF32) after it."""
    previous = backend.device()
    backend.use("gpu")
    try:
        yield
    finally:
        backend.allow_tf32(False)
        backend.use(previous)

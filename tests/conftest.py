"""Shared by every test folder: this folder is on ``sys.path``, so helpers such
as :mod:`parity` and :mod:`tiny_runs` import by name. The ``fake_device`` fixture
lets a test run minidl's GPU paths on the fake CUDA device; ``tiny_synthetic`` is
a small synthetic data set for the hpa commands (tests/hpa and tests/gpu).

``MINIDL_TEST_DEVICE=fake`` makes the whole session the fake-device pass: the
fake CUDA device is installed here, as this file is loaded, so that it is in
place before the other conftest files (tests/engine's chooses its passes by
it) and the test modules are imported."""
import fake_cuda
import pytest

from minidl import backend

try:
    if fake_cuda.requested():
        fake_cuda.install()
except ValueError as error:
    raise pytest.UsageError(str(error)) from None


@pytest.fixture
def fake_device():
    """For one test, the fake CUDA device (minidl.testing.fake_cupy) plays CuPy and 'gpu' is
    the current device: models, optimizers, losses and the trainer take their GPU paths on a
    machine without a GPU. Yields the fake ``cupy`` namespace."""
    from minidl.testing import fake_cupy_namespace
    device = backend.device()
    previous = fake_cuda.install()
    backend.use("gpu")
    try:
        yield fake_cupy_namespace.namespace
    finally:
        backend.use("cpu")
        backend.install_device_module(*previous)
        backend.use(device)


@pytest.fixture(scope="module")
def tiny_synthetic(tmp_path_factory):
    """96 synthetic samples of 64 px in the Kaggle layout, made once per test module."""
    from hpa.synthesis.generate import generate  # here: the engine's tests never need hpa
    folder = tmp_path_factory.mktemp("synthetic")
    generate(folder, n=96, size=64, seed=3, progress=False)
    return folder


@pytest.fixture
def kernels_on(monkeypatch):
    """For tests about the fast implementations themselves: CI's passes with
    MINIDL_IMPL=reference or MINIDL_COMPILED=0 (read at every lookup) must not turn
    off the kernels they check. Use with ``pytestmark = pytest.mark.usefixtures("kernels_on")``."""
    for switch in ("MINIDL_IMPL", "MINIDL_COMPILED"):
        monkeypatch.delenv(switch, raising=False)

"""Shared by every test folder: this folder is on ``sys.path``, so helpers such
as :mod:`parity` and :mod:`tiny_runs` import by name. The ``fake_device`` fixture
lets a test run minidl's GPU paths on the fake CUDA device; ``tiny_synthetic`` is
a small synthetic data set for the hpa commands (tests/hpa and tests/gpu)."""
import pytest

from minidl import backend


@pytest.fixture
def fake_device():
    """For one test, the fake CUDA device (minidl.testing.fake_cupy) plays CuPy and 'gpu' is
    the current device: models, optimizers, losses and the trainer take their GPU paths on a
    machine without a GPU. Yields the fake ``cupy`` namespace."""
    from minidl.testing import fake_cupy, fake_cupy_namespace
    device = backend.device()
    previous = backend.install_test_device(fake_cupy_namespace.namespace, (fake_cupy.FakeDeviceArray,))
    backend.use("gpu")
    try:
        yield fake_cupy_namespace.namespace
    finally:
        backend.use("cpu")
        backend.install_test_device(*previous)
        backend.use(device)


@pytest.fixture(scope="module")
def tiny_synthetic(tmp_path_factory):
    """96 synthetic samples of 64 px in the Kaggle layout, made once per test module."""
    from hpa.synthetic.generate import generate  # here: the engine's tests never need hpa
    folder = tmp_path_factory.mktemp("synthetic")
    generate(folder, n=96, size=64, seed=3, progress=False)
    return folder

"""Shared by every test folder: this folder is on ``sys.path``, so helpers such
as :mod:`parity` import by name. The ``fake_device`` fixture lets a test run
minidl's GPU paths on the fake CUDA device."""
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

"""The fake CUDA device in CuPy's place, for the tests and the commands they start.

``MINIDL_TEST_DEVICE=fake python -m pytest`` is the fake-device pass: this
suite's configuration (tests/conftest.py) installs the fake device
(``minidl.testing.fake_cupy``) through ``minidl.backend.install_device_module``
before any test module is imported; minidl itself never reads the variable.
A command a test starts in a process of its own gets the device from
``run_on_fake_device.py``.
"""
import os

from minidl import backend

VARIABLE = "MINIDL_TEST_DEVICE"


def install():
    """Make the fake device play CuPy; returns what ``backend.install_device_module`` returns."""
    from minidl.testing import fake_cupy, fake_cupy_namespace
    return backend.install_device_module(fake_cupy_namespace.namespace, (fake_cupy.FakeDeviceArray,))


def requested():
    """True when ``MINIDL_TEST_DEVICE=fake``; a ValueError names any other value."""
    value = os.environ.get(VARIABLE, "")
    if value not in ("", "fake"):
        raise ValueError(f"{VARIABLE}={value!r}: the only test device is 'fake'")
    return value == "fake"

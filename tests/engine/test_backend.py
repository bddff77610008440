"""The NumPy/CuPy switch: device selection, dtype defaults, clear errors."""
import numpy as np
import pytest

import minidl as md
from minidl import backend


def test_default_device_is_numpy_float32():
    assert backend.device() == "cpu"
    assert backend.get_default_dtype() is np.float32
    assert md.init.zeros((2, 3)).dtype == np.float32


def test_default_dtype_switch_and_rejects_integers():
    previous = backend.get_default_dtype()
    try:
        backend.set_default_dtype(np.float64)
        assert md.init.torch_default((3, 4)).dtype == np.float64
        with pytest.raises(TypeError, match="float"):
            backend.set_default_dtype(np.int32)
    finally:
        backend.set_default_dtype(previous)


def test_unknown_device_names_the_choices():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        md.use("tpu")


def test_gpu_without_a_gpu_is_a_clear_error():
    if backend.cupy is not None:
        try:
            if backend.cupy.cuda.runtime.getDeviceCount() > 0:
                pytest.skip("this machine has a GPU")
        except Exception:
            pass
    with pytest.raises(backend.DeviceError, match="gpu"):
        md.use("gpu")
    assert backend.device() == "cpu"


def test_host_arrays_round_trip():
    a = np.arange(6.0).reshape(2, 3)
    assert md.to_device(a, "cpu") is not None
    np.testing.assert_array_equal(md.to_numpy(a), a)
    assert backend.get_array_module(a, 1.0, None) is not None


def test_mixing_host_and_device_arrays_is_refused(monkeypatch):
    # Without a GPU no CuPy array can be allocated; a NumPy subclass registered
    # as a device type stands in for one, which is all the check looks at.
    class DeviceArray(np.ndarray):
        pass

    monkeypatch.setattr(backend, "_device_array_types", (DeviceArray,))
    on_device = np.zeros(2).view(DeviceArray)
    with pytest.raises(backend.DeviceError, match="mixes NumPy"):
        backend.get_array_module(np.zeros(2), on_device)


def test_layer_refuses_an_input_on_another_device(monkeypatch):
    class DeviceArray(np.ndarray):
        pass

    layer = md.Linear(3, 2)
    monkeypatch.setattr(backend, "_device_array_types", (DeviceArray,))
    on_device = np.zeros((1, 3), dtype=np.float32).view(DeviceArray)
    with pytest.raises(backend.DeviceError, match="mixes NumPy"):
        layer(on_device)

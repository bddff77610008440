"""The fake CUDA device: CuPy's strictness on NumPy memory, and the GPU paths that run on it.

Each test installs the device itself (the ``fake_device`` fixture), so this
file checks it in the ordinary test pass; ``MINIDL_TEST_DEVICE=fake`` runs the
whole engine suite's gradient checks on it too.
"""
import copy
import json

import numpy as np
import pytest

import minidl as md
from minidl import backend
from minidl.testing.fake_cupy import FakeDeviceArray


def test_device_arrays_are_their_own_type_and_refuse_host_arrays(fake_device):
    a = fake_device.asarray(np.arange(6.0).reshape(2, 3))
    assert isinstance(a, FakeDeviceArray) and not isinstance(a, np.ndarray)
    for mix in (lambda: a + np.ones(3), lambda: np.ones(3) * a, lambda: fake_device.add(a, np.ones(3))):
        with pytest.raises(TypeError, match="Unsupported type"):
            mix()
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(a)
    with pytest.raises(TypeError, match="Unsupported type"):
        a[0] = np.zeros(3)
    b = a + 1.5 * a  # scalars are fine, as in CuPy
    assert isinstance(b, FakeDeviceArray)


def test_get_and_asnumpy_copy_to_the_host(fake_device):
    a = fake_device.asarray(np.arange(4.0))
    host = a.get()
    assert type(host) is np.ndarray
    host[0] = 99
    assert float(a[0]) == 0.0
    assert type(fake_device.asnumpy(a)) is np.ndarray
    np.testing.assert_array_equal(backend.to_numpy(a), [0, 1, 2, 3])


def test_reductions_return_device_scalars_and_only_cupy_names_exist(fake_device):
    a = fake_device.ones((2, 3), dtype=np.float32)
    total = a.sum()
    assert isinstance(total, FakeDeviceArray) and total.shape == () and float(total) == 6.0
    with pytest.raises(AttributeError, match="cupy has no 'busday_count'"):
        fake_device.busday_count  # a NumPy function CuPy lacks
    assert fake_device.get_array_module(a) is fake_device


def test_layers_refuse_host_input_on_device_weights(fake_device):
    layer = md.Conv2d(2, 3, 3)
    with pytest.raises(backend.DeviceError, match="mixes NumPy"):
        layer(np.zeros((1, 2, 5, 5), dtype=np.float32))


def _model():
    # No conv bias before batch norm: its gradient is round-off, which Adam would blow up to full steps.
    return md.Sequential(md.Conv2d(3, 6, 3, stride=2, padding=1, bias=False), md.BatchNorm2d(6), md.ReLU(),
                         md.MaxPool2d(2), md.Dropout(0.3), md.GlobalAvgPool2d(), md.Linear(6, 5))


def _train(model, x, y, steps, device_put=lambda a: a):
    criterion = md.losses.BCEWithLogitsLoss(pos_weight=np.linspace(0.5, 2, 5))
    optimizer = md.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(steps):
        loss = criterion(model(device_put(x)), device_put(y))
        model.zero_grad()
        model.backward(criterion.backward())
        optimizer.step()
        losses.append(loss)
    return losses


def test_training_steps_on_the_device_match_numpy_in_float64(fake_device):
    """Dropout off: the host and device streams differ by design, so masks would too."""
    md.manual_seed(0)
    backend.use("cpu")
    host = _model().astype(np.float64)
    host[4].p = 0.0
    device = copy.deepcopy(host).to("gpu")
    assert backend.is_device_array(device[0].weight.data)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((3, 3, 11, 9)), (rng.random((3, 5)) < 0.4).astype(np.float64)
    host_losses = _train(host, x, y, 4)
    backend.use("gpu")
    device_losses = _train(device, x, y, 4, md.to_device)
    np.testing.assert_allclose(device_losses, host_losses, rtol=1e-12)
    for (name, a), (_, b) in zip(host.state_dict().items(), device.state_dict().items()):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12, err_msg=name)


def test_manual_seed_seeds_the_device_stream_and_its_state_resumes_exactly(fake_device):
    x = fake_device.ones((4, 50), dtype=np.float32)
    drop = md.Dropout(0.5)
    md.manual_seed(7)
    first = drop(x).get()
    state = json.loads(json.dumps(md.rng.get_state()))  # checkpoints keep it as JSON
    second, third = drop(x).get(), drop(x).get()
    md.manual_seed(7)
    np.testing.assert_array_equal(drop(x).get(), first)  # manual_seed resets the device stream
    md.manual_seed(123)
    md.rng.set_state(state)
    np.testing.assert_array_equal(drop(x).get(), second)
    np.testing.assert_array_equal(drop(x).get(), third)
    assert state["device"] == {"seed": 7, "draws": 1}
    assert not np.array_equal(first, second)


def test_set_state_accepts_a_host_only_snapshot():
    md.manual_seed(3)
    old = md.rng.host().bit_generator.state  # what checkpoints held before the device stream
    a = md.rng.host().random()
    md.rng.set_state(old)
    assert md.rng.host().random() == a


def test_kernels_run_through_the_shim_on_fake_arrays(fake_device):
    from minidl.kernels.launch import launch
    x = fake_device.asarray(np.array([-1.0, 2.0, -3.0, 4.0]))
    y, mask = fake_device.empty_like(x), fake_device.empty(x.shape, dtype=fake_device.bool_)
    launch("relu_forward", 4, x, y, mask, 4)
    np.testing.assert_array_equal(y.get(), [0, 2, 0, 4])
    with pytest.raises(TypeError, match="mix host and device"):
        launch("relu_forward", 4, x, np.empty(4), mask, 4)

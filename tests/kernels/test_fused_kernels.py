"""The fused kernels (fused.cu, through device_fused) against the host running the layers one
by one, with NaN and inf in the input or the upstream gradient: the same values, NaN and inf
exactly where the host has them. The kernels run through the CPU shim on NumPy arrays.
(Their twins on random finite inputs are in minidl/kernels/twins_fused.py, run by
test_kernels_on_cpu.py; the fused layers against the unfused ones on the fake device are
in tests/engine/test_fusion.py.)"""
import copy

import numpy as np
import pytest
from nonfinite import _same, _with_nonfinite

import minidl as md
from minidl.kernels import device_fused, launch

DTYPES = ["float64", "float32"]


# About the kernels themselves: CI's switches must not turn them off. NumPy's
# "invalid value" warnings are on purpose (NaN and inf inputs).
pytestmark = [pytest.mark.usefixtures("kernels_on"), pytest.mark.filterwarnings("ignore::RuntimeWarning")]


def _host_and_kernels(layers, impl, x, dy, dtype):
    """The layers on the host (their default CPU paths) against ``impl`` on the same arrays."""
    host = md.Sequential(*copy.deepcopy(layers)).astype(dtype)
    owner = next(layer for layer in host if layer.param_names)
    hyper = {k: v for layer in host for k, v in layer.hyper().items()}
    args = [None if p is None else p.data.copy() for p in owner._params()]
    args += [getattr(owner, name).copy() for name in owner.buffer_names]
    y_ref = host(x)
    dx_ref = host.backward(dy)
    y, saved, *_ = impl.forward(x, *args, **hyper)
    dx, *grads = impl.backward(dy, saved, **hyper)
    _same(y_ref, y, dtype)
    if dx_ref is not None:
        _same(dx_ref, dx, dtype)
    for p, g in zip(owner._params(), grads):
        if p is not None:
            _same(p.grad, g, dtype)


def _norm(c, training, rng):
    layer = md.BatchNorm2d(c).train(training)
    layer.weight.data[...] = rng.uniform(0.5, 1.5, c)
    layer.bias.data[...] = rng.standard_normal(c)
    layer.running_var[...] = rng.uniform(0.5, 2.0, c)
    return layer


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("poison", ["x", "dy"])
def test_batchnorm_relu_carries_nan_and_inf(dtype, training, poison):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5, 4)).astype(dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    x, dy = (_with_nonfinite(x, rng, 1), dy) if poison == "x" else (x, _with_nonfinite(dy, rng, 1))
    _host_and_kernels([_norm(3, training, rng), md.ReLU()], device_fused.BATCH_NORM_RELU, x, dy, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("geometry", [(2, 2, 0), (3, 2, 1)], ids=["2x2-s2", "3x3-s2-p1"])
@pytest.mark.parametrize("poison", ["x", "dy"])
def test_maxpool_batchnorm_relu_carries_nan_and_inf(dtype, training, geometry, poison):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 9, 8)).astype(dtype)
    k, s, p = geometry
    # The host's general pooling loop, as in test_kernels_nonfinite: its 2x2 fast path (pool2x2)
    # gives NaN, not -inf, to a window's winner when the window's gradient is -inf.
    pool = md.MaxPool2d(k, s, p, halving=False)
    dy = rng.standard_normal(pool(x).shape).astype(dtype)
    # One channel poisoned: batch norm spreads a NaN over its channel, the others stay finite.
    if poison == "x":
        x[:, 1] = _with_nonfinite(x[:, 1], rng, 1)
    else:
        dy[:, 1] = _with_nonfinite(dy[:, 1], rng, 1)
    layers = [pool, _norm(3, training, rng), md.ReLU()]
    _host_and_kernels(layers, device_fused.MAX_POOL2D_BATCH_NORM_RELU, x, dy, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("poison", ["x", "dy", "bias"])
def test_conv_bias_relu_carries_nan_and_inf(dtype, bias, poison):
    rng = np.random.default_rng(2)
    conv = md.Conv2d(3, 4, 3, stride=2, padding=1, bias=bias)
    x = rng.standard_normal((2, 3, 7, 8)).astype(dtype)
    dy = rng.standard_normal((2, 4, 4, 4)).astype(dtype)
    if poison == "bias" and bias:
        conv.bias.data[...] = [np.nan, np.inf, -np.inf, 0.5]
    elif poison != "bias":  # one NaN, one inf: inf - inf sums would differ by summation order only
        flat = (x if poison == "x" else dy).reshape(-1)
        flat[rng.choice(flat.size, 2, replace=False)] = [np.nan, np.inf]
    _host_and_kernels([conv, md.ReLU()], device_fused.CONV2D_RELU, x, dy, dtype)


def test_relu_part_gives_nan_for_nan_not_zero():
    y, mask = np.array([0.0, -1.0, 2.0, np.nan, -np.inf, np.inf]), np.zeros(6, bool)
    with launch.configured(4, 1):  # one partial block going round the grid-stride loop twice
        launch.launch("bias_relu", 6, y, np.zeros(1), mask, 6, 1, 6, 0)
    np.testing.assert_array_equal(y, [0.0, 0.0, 2.0, np.nan, 0.0, np.inf])
    np.testing.assert_array_equal(mask, [False, False, True, False, False, True])


def _launches(monkeypatch):
    from minidl.kernels import cpu_shim
    names, real_launch = [], cpu_shim.launch
    monkeypatch.setattr(cpu_shim, "launch", lambda name, *rest: names.append(name) or real_launch(name, *rest))
    return names


def test_adam_updates_a_group_in_one_launch_on_the_fake_device(fake_device, monkeypatch):
    md.manual_seed(0)
    model = md.Sequential(md.Conv2d(2, 3, 3), md.BatchNorm2d(3), md.ReLU(), md.Flatten(), md.Linear(12, 5)).to("gpu")
    host = copy.deepcopy(model).to("cpu")
    optimizers = [md.optim.Adam(m.parameters(), lr=1e-2, weight_decay=1e-3) for m in (model, host)]
    rng = np.random.default_rng(3)
    names = _launches(monkeypatch)
    for _ in range(2):
        for p, q in zip(model.parameters(), host.parameters()):
            q.grad[...] = rng.standard_normal(q.shape).astype(np.float32)
            p.grad[...] = md.to_device(q.grad)
        names.clear()
        for optimizer in optimizers:
            optimizer.step()
        assert names == ["adam_update_many"]  # 6 tensors, one launch
    for p, q in zip(model.parameters(), host.parameters()):
        np.testing.assert_allclose(md.to_numpy(p.data), q.data, rtol=1e-6, atol=1e-7)


def test_a_group_whose_tensors_are_at_different_steps_is_updated_one_by_one(fake_device, monkeypatch):
    params = [md.Parameter(md.to_device(np.ones(n, np.float32))) for n in (3, 4)]
    optimizer = md.optim.Adam(params, lr=0.1)
    params[1].requires_grad = False  # frozen for the first step: its step count falls behind
    optimizer.step()
    params[1].requires_grad = True
    names = _launches(monkeypatch)
    optimizer.step()
    assert names == ["adam_update", "adam_update"]
    assert [optimizer.state[p]["step"] for p in params] == [2, 1]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("poison", ["x", "dy", "bias"])
def test_conv_bias_selu_carries_nan_and_inf(dtype, poison):
    rng = np.random.default_rng(4)
    conv = md.Conv2d(3, 4, 3, padding=1)
    x = rng.standard_normal((2, 3, 5, 6)).astype(dtype)
    dy = rng.standard_normal((2, 4, 5, 6)).astype(dtype)
    if poison == "bias":  # NaN, +inf and -inf through SELU: NaN, inf and -scale*alpha
        conv.bias.data[...] = [np.nan, np.inf, -np.inf, 0.5]
    else:
        flat = (x if poison == "x" else dy).reshape(-1)
        flat[rng.choice(flat.size, 2, replace=False)] = [np.nan, np.inf]
    _host_and_kernels([conv, md.SELU()], device_fused.CONV2D_SELU, x, dy, dtype)

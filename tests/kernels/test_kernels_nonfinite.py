"""NaN and inf through every kernel, against the host path: the same values, NaN where it has NaN.

A kernel that turns a NaN into a number hides a diverged run: the loss stays
finite, the NaN watch never fires, and Adam writes NaN into the weights from
gradients nobody sees. So each kernel family gets inputs holding NaN, +inf and
-inf and must give exactly what the host (NumPy) path gives, NaN positions
included. The kernels run through the CPU shim (the device code called
directly on NumPy arrays), as in test_kernels_on_cpu.py; the last test runs a
whole network on the fake device.
"""
import copy

import numpy as np
import pytest
from nonfinite import _same, _with_nonfinite

import minidl as md
from minidl.kernels import device_layers, device_training
from minidl.ops import registry

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's "invalid value" on purpose

def _host_impl(op, name):
    """The registered CPU implementation ``name`` of ``op``: what the host runs by default."""
    (impl,) = [i.impl for i in registry.get(op).candidates("cpu") if i.name == name]
    return impl


def _layer_case(layer, kernels, x, dy, dtype, host=None):
    """``layer`` through the CUDA launchers ``kernels`` (on NumPy arrays: the CPU shim) against
    the host path (``host``: a registered CPU implementation, else what the ops table picks)."""
    reference, twin = copy.deepcopy(layer), copy.deepcopy(layer)
    y_ref = reference.run_forward(x, impl=host)[0] if host is not None else reference(x)
    y = twin.run_forward(x, impl=kernels)[0]
    _same(y_ref, y, dtype)
    _same(reference.backward(dy), twin.backward(dy), dtype)
    for p, q in zip(reference.parameters(), twin.parameters()):
        _same(p.grad, q.grad, dtype)


DTYPES = ["float64", "float32"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("poison", ["x", "dy"])
def test_relu_keeps_nan_and_inf(dtype, poison):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5, 7)).astype(dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    x, dy = (_with_nonfinite(x, rng), dy) if poison == "x" else (x, _with_nonfinite(dy, rng))
    _layer_case(md.ReLU(), device_layers.RELU, x, dy, dtype)


def test_relu_kernel_gives_nan_for_nan_not_zero():
    x = np.array([np.nan, -1.0, 2.0, -np.inf, np.inf])
    layer = md.ReLU()
    y = layer.run_forward(x, impl=device_layers.RELU)[0]
    np.testing.assert_array_equal(y, [np.nan, 0.0, 2.0, 0.0, np.inf])
    dx = layer.backward(np.array([1.0, np.nan, 3.0, np.inf, 5.0]))
    np.testing.assert_array_equal(dx, [0.0, np.nan, 3.0, np.nan, 5.0])  # dy * mask: nan*0 and inf*0 are NaN


POOLS = [  # kernel, stride, padding: halving-shaped, overlapping with padding, overlapping without
    pytest.param((2, 2, 0), id="2x2-s2"),
    pytest.param((3, 2, 1), id="3x3-s2-p1"),
    pytest.param((3, 1, 1), id="3x3-s1-p1"),
    pytest.param((3, 2, 0), id="3x3-s2"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geometry", POOLS)
@pytest.mark.parametrize("poison", ["x", "dy", "ties"])
def test_maxpool_matches_the_general_host_path_with_nan_and_inf(dtype, geometry, poison):
    """The kernel computes the host's general loop (``chunked_windows``) bit for bit: a NaN
    makes its windows NaN, the winner is the first maximum before it, and dy's NaN and
    inf reach every pixel of their window through the mask product."""
    k, s, p = geometry
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 9, 8)).astype(dtype)
    if poison == "ties":
        x = rng.integers(-2, 3, x.shape).astype(dtype)
    layer = md.MaxPool2d(k, s, p, halving=False)
    ho = (9 + 2 * p - k) // s + 1
    wo = (8 + 2 * p - k) // s + 1
    dy = rng.standard_normal((2, 3, ho, wo)).astype(dtype)
    if poison in ("x", "ties"):
        x = _with_nonfinite(x, rng, count=4)
    else:
        dy = _with_nonfinite(dy, rng)
    _layer_case(layer, device_layers.MAX_POOL2D, x, dy, dtype, host=_host_impl("max_pool2d", "chunked_windows"))


def test_maxpool_kernel_output_is_nan_where_a_window_holds_nan():
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    x[0, 0, 0, 1] = np.nan  # window (0, 0) of the 2x2 pooling
    y = md.MaxPool2d(2).run_forward(x, impl=device_layers.MAX_POOL2D)[0]
    assert np.isnan(y[0, 0, 0, 0]) and np.isfinite(y[0, 0, 0, 1:]).all() and np.isfinite(y[0, 0, 1]).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("poison", ["x", "dy"])
def test_convolution_kernels_carry_nan_and_inf(dtype, poison):
    rng = np.random.default_rng(2)
    layer = md.Conv2d(3, 4, 3, stride=2, padding=1).astype(dtype)
    x = rng.standard_normal((2, 3, 7, 8)).astype(dtype)
    dy = rng.standard_normal((2, 4, 4, 4)).astype(dtype)
    # One NaN and one inf (inf - inf sums would differ by summation order, not by kernel behaviour).
    flat = (x if poison == "x" else dy).reshape(-1)
    flat[rng.choice(flat.size, 2, replace=False)] = [np.nan, np.inf]
    _layer_case(layer, device_layers.CONV2D, x, dy, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("poison", ["x", "dy"])
def test_batchnorm_kernels_carry_nan_and_inf(dtype, training, poison):
    rng = np.random.default_rng(3)
    layer = md.BatchNorm2d(3).astype(dtype).train(training)
    layer.running_var[...] = rng.uniform(0.5, 2.0, 3)
    x = rng.standard_normal((2, 3, 5, 4)).astype(dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    x, dy = (_with_nonfinite(x, rng, 1), dy) if poison == "x" else (x, _with_nonfinite(dy, rng, 1))
    _layer_case(layer, device_layers.BATCH_NORM, x, dy, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("decoupled", [False, True], ids=["adam", "adamw"])
def test_adam_kernel_writes_nan_where_the_host_does(dtype, decoupled):
    rng = np.random.default_rng(4)
    param = rng.standard_normal(101).astype(dtype)
    grad = _with_nonfinite(rng.standard_normal(101).astype(dtype), rng)
    hyper = dict(lr=1e-2, weight_decay=1e-2, decoupled=decoupled)
    host, twin = param.copy(), param.copy()
    host_state, twin_state = {}, {}
    for _ in range(2):
        md.ops.implementation("adam", host).update(host, grad, host_state, **hyper)
        device_training.FusedAdam.update(twin, grad, twin_state, **hyper)
    _same(host, twin, dtype)
    _same(host_state["exp_avg"], twin_state["exp_avg"], dtype)
    _same(host_state["exp_avg_sq"], twin_state["exp_avg_sq"], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_kernel_carries_nan_and_inf_logits(dtype):
    rng = np.random.default_rng(5)
    logits = _with_nonfinite((rng.standard_normal((6, 7)) * 3).astype(dtype), rng, 2)
    targets = (rng.random((6, 7)) < 0.3).astype(dtype)
    hyper = dict(pos_weight=rng.uniform(0.5, 2, 7).astype(dtype))
    host = md.ops.implementation("bce_with_logits", logits)
    expected, saved = host.forward(logits, targets, **hyper)
    loss, grad = device_training.FusedBCEWithLogits.forward(logits, targets, **hyper)
    _same(expected, loss, dtype)
    _same(host.backward(saved, **hyper), device_training.FusedBCEWithLogits.backward(grad, **hyper), dtype)


def test_a_nan_pixel_makes_the_loss_nan_on_the_fake_device_as_on_the_host(fake_device):
    """The review's reproduction: BN -> conv -> maxpool -> ReLU -> GAP -> Linear with one NaN
    pixel gave a finite loss on the device (0.72) and NaN gradients that Adam spread into
    every weight while the NaN watch, which reads the loss, saw nothing."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 4, 12, 12)).astype(np.float32)
    x[1, 2, 5, 6] = np.nan
    y = (rng.random((2, 5)) < 0.4).astype(np.float32)
    md.manual_seed(0)
    model = md.Sequential(md.BatchNorm2d(4), md.Conv2d(4, 6, 3, padding=1), md.MaxPool2d(2), md.ReLU(),
                          md.GlobalAvgPool2d(), md.Linear(6, 5))
    host_model, device_model = copy.deepcopy(model).to("cpu"), copy.deepcopy(model).to("gpu")
    host_loss = md.losses.BCEWithLogitsLoss()(host_model(x), y)
    device_loss = md.losses.BCEWithLogitsLoss()(device_model(md.to_device(x, "gpu")), md.to_device(y, "gpu"))
    assert all(md.backend.is_device_array(p.data) for p in device_model.parameters())
    assert np.isnan(float(host_loss))
    assert np.isnan(float(md.to_numpy(device_loss)))

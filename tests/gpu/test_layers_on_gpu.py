"""Every layer's forward and backward on the GPU against NumPy:
float64 to 1e-10 relative, float32 to 1e-4 (relative to each output's largest value)."""
import copy

import numpy as np
import pytest

import minidl as md

pytestmark = pytest.mark.gpu

LAYERS = {
    "conv3x3-p1": (lambda: md.Conv2d(3, 5, 3, padding=1), (2, 3, 9, 11)),
    "conv5x5-s2-p2-batch1": (lambda: md.Conv2d(2, 4, 5, stride=2, padding=2), (1, 2, 13, 10)),
    "conv-nonsquare": (lambda: md.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=(1, 0)), (2, 2, 7, 9)),
    "conv1x1-nobias": (lambda: md.Conv2d(4, 3, 1, bias=False), (2, 4, 5, 5)),
    "conv-first-layer": (lambda: md.Conv2d(2, 4, 5, padding=2, input_grad=False), (2, 2, 9, 9)),
    "maxpool2": (lambda: md.MaxPool2d(2), (2, 3, 9, 8)),
    "maxpool3-s2-p1": (lambda: md.MaxPool2d(3, stride=2, padding=1), (2, 2, 9, 7)),
    "avgpool2": (lambda: md.AvgPool2d(2), (2, 3, 8, 6)),
    "batchnorm2d": (lambda: md.BatchNorm2d(3), (3, 3, 5, 7)),
    "batchnorm2d-eval": (lambda: md.BatchNorm2d(3).eval(), (2, 3, 5, 5)),
    "batchnorm1d": (lambda: md.BatchNorm1d(6), (5, 6)),
    "linear": (lambda: md.Linear(7, 4), (3, 7)),
    "relu": (md.ReLU, (2, 3, 5, 7)),
    "selu": (md.SELU, (4, 9)),
    "sigmoid": (md.Sigmoid, (4, 9)),
    "dropout-eval": (lambda: md.Dropout(0.3).eval(), (4, 9)),
    "global-avg": (md.GlobalAvgPool2d, (2, 3, 5, 4)),
    "global-max": (md.GlobalMaxPool2d, (2, 3, 5, 4)),
    "flatten": (md.Flatten, (2, 3, 4, 5)),
    "channel-select": (lambda: md.ChannelSelect((2, 0)), (2, 4, 3, 3)),
}
TOLERANCE = {"float64": 1e-10, "float32": 1e-4}


def _rel(reference, result):
    reference, result = np.asarray(reference, dtype=np.float64), md.to_numpy(result).astype(np.float64)
    assert reference.shape == result.shape
    return np.max(np.abs(reference - result), initial=0.0) / max(np.max(np.abs(reference), initial=0.0), 1e-30)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_matches_numpy(name, dtype):
    build, shape = LAYERS[name]
    md.backend.use("cpu")
    host = build().astype(dtype)
    md.backend.use("gpu")
    device = copy.deepcopy(host).to("gpu")
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    x[np.abs(x) < 1e-3] = 0.5  # no input at a kink
    y = host(x)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = host.backward(dy)
    y_gpu = device(md.to_device(x))
    dx_gpu = device.backward(md.to_device(dy))
    if dx is None:  # a first layer (input_grad=False): no input gradient on either device
        assert dx_gpu is None
        dx, dx_gpu = 0.0, np.zeros(())
    errors = {"y": _rel(y, y_gpu), "dx": _rel(dx, dx_gpu)}
    for (pname, p), (_, q) in zip(host.named_parameters(), device.named_parameters()):
        errors[pname + ".grad"] = _rel(p.grad, q.grad)
    for (bname, b), (_, c) in zip(host.named_buffers(), device.named_buffers()):
        if np.asarray(b).dtype.kind == "f":
            errors[bname] = _rel(b, c)
    worst = max(errors, key=errors.get)
    assert errors[worst] <= TOLERANCE[dtype], f"{name} {dtype}: {worst} off by {errors[worst]:.2e} (all: {errors})"


@pytest.mark.parametrize("loss_name, build", [
    ("bce-weights", lambda: md.losses.BCEWithLogitsLoss(weight=np.linspace(0.5, 2, 7), pos_weight=np.full(7, 3.0))),
    ("focal", lambda: md.losses.FocalLoss()),
    ("soft-f1", lambda: md.losses.SoftF1Loss()),
])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_loss_matches_numpy(loss_name, build, dtype):
    rng = np.random.default_rng(1)
    logits = (rng.standard_normal((5, 7)) * 3).astype(dtype)
    targets = (rng.random((5, 7)) < 0.3).astype(dtype)
    host, device = build(), build()
    value, grad = host(logits, targets), host.backward()
    value_gpu = device(md.to_device(logits), md.to_device(targets))
    grad_gpu = device.backward()
    assert abs(value_gpu - value) <= TOLERANCE[dtype] * abs(value)
    assert _rel(grad, grad_gpu) <= TOLERANCE[dtype]


def test_tf32_is_off_unless_allowed():
    """Strict float32 products match float64 to ~1e-6; TF32 (10-bit mantissa inputs) does not."""
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((256, 512)), rng.standard_normal((512, 256))
    exact = a @ b

    def error():
        product = md.to_numpy(md.backend.cupy.matmul(md.to_device(a.astype(np.float32)),
                                                     md.to_device(b.astype(np.float32))))
        return np.max(np.abs(product - exact)) / np.max(np.abs(exact))
    strict = error()
    md.backend.allow_tf32(True)
    try:
        relaxed = error()
    finally:
        md.backend.allow_tf32(False)
    assert strict < 1e-5
    if md.backend.test_device() is None:  # the fake device computes on the host, in float32
        assert relaxed > 10 * strict, (strict, relaxed)
    assert error() == strict

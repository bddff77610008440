"""ReLU, SELU, Sigmoid: scalar references, gradient checks away from kinks, PyTorch parity."""
import math
import warnings

import numpy as np
import pytest

from minidl.gradcheck import check_module
from minidl.layers.activations import SELU, ReLU, Sigmoid

ALPHA, SCALE = 1.6732632423543772, 1.0507009873554805
REFERENCES = {
    ReLU: lambda v: max(v, 0.0),
    SELU: lambda v: SCALE * (v if v > 0 else ALPHA * (math.exp(v) - 1)),
    Sigmoid: lambda v: 1 / (1 + math.exp(-v)),
}
TORCH_NAMES = {ReLU: "ReLU", SELU: "SELU", Sigmoid: "Sigmoid"}


def _away_from_zero(shape, seed):
    """Standard-normal values pushed at least 1e-2 from the kink at 0."""
    x = np.random.default_rng(seed).standard_normal(shape)
    return x + np.where(x >= 0, 1e-2, -1e-2)


@pytest.mark.parametrize("cls", [ReLU, SELU, Sigmoid])
def test_forward_matches_the_scalar_formula(cls):
    x = _away_from_zero((2, 3, 4), 0) * 3
    expected = np.vectorize(REFERENCES[cls])(x)
    np.testing.assert_allclose(cls()(x), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("cls", [ReLU, SELU, Sigmoid])
def test_gradcheck(cls, batch):
    check_module(cls(), _away_from_zero((batch, 3, 5), 1), tol=1e-6)


@pytest.mark.parametrize("cls", [ReLU, SELU, Sigmoid])
def test_float32_stays_float32(cls):
    layer = cls()
    x = _away_from_zero((4, 5), 2).astype(np.float32)
    y = layer(x)
    assert y.dtype == np.float32 and layer.backward(np.ones_like(y)).dtype == np.float32


@pytest.mark.parametrize("cls", [ReLU, SELU, Sigmoid])
def test_matches_torch(cls):
    torch = pytest.importorskip("torch")
    x = _away_from_zero((3, 7), 3) * 4
    dy = np.random.default_rng(4).standard_normal(x.shape)
    layer = cls()
    xt = torch.tensor(x, requires_grad=True)
    yt = getattr(torch.nn, TORCH_NAMES[cls])()(xt)
    yt.backward(torch.tensor(dy))
    np.testing.assert_allclose(layer(x), yt.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(layer.backward(dy), xt.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_stable_for_huge_inputs(dtype):
    x = np.array([-1e4, -700.0, -50.0, 0.0, 50.0, 700.0, 1e4], dtype=dtype)
    layer = Sigmoid()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            y = layer(x)
            dx = layer.backward(np.ones_like(x))
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx))
    assert y[0] == 0 and y[-1] == 1 and y[3] == 0.5
    # Tiny outputs keep their relative precision (no 1 - (1 - tiny) cancellation).
    np.testing.assert_allclose(y[2], math.exp(-50) / (1 + math.exp(-50)), rtol=1e-6)
    if dtype == np.float64:
        np.testing.assert_allclose(y[1], math.exp(-700), rtol=1e-12)


def test_selu_does_not_overflow_on_large_positive_inputs():
    with np.errstate(over="raise", invalid="raise"):
        y = SELU()(np.array([1e4, 800.0], dtype=np.float32))
    np.testing.assert_allclose(y, SCALE * np.array([1e4, 800.0]), rtol=1e-6)

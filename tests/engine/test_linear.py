"""Linear: a loop reference, gradient checks, PyTorch parity, initialisation."""
import numpy as np
import pytest

from minidl.gradcheck import check_module
from minidl.layers.linear import Linear


def test_forward_matches_a_loop():
    layer = Linear(4, 3).astype(np.float64)
    x = np.random.default_rng(0).standard_normal((2, 4))
    expected = np.empty((2, 3))
    for n in range(2):
        for o in range(3):
            expected[n, o] = sum(x[n, i] * layer.weight.data[o, i] for i in range(4)) + layer.bias.data[o]
    np.testing.assert_allclose(layer(x), expected, rtol=1e-12)


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("bias", [False, True])
def test_gradcheck(bias, batch):
    # Batch >= 2 as well: a weight gradient wrongly divided by (or not summed over)
    # the batch is right for a batch of 1.
    layer = Linear(7, 5, bias=bias)
    check_module(layer, np.random.default_rng(1).standard_normal((batch, 7)), tol=1e-6)
    assert ("bias" in dict(layer.named_parameters())) == bias


def test_gradients_accumulate_until_zero_grad():
    layer = Linear(3, 2).astype(np.float64)
    x, dy = np.ones((4, 3)), np.ones((4, 2))
    layer(x)
    layer.backward(dy)
    first = layer.weight.grad.copy()
    layer(x)
    layer.backward(dy)
    np.testing.assert_allclose(layer.weight.grad, 2 * first)
    layer.zero_grad()
    assert not layer.weight.grad.any() and not layer.bias.grad.any()


def test_matches_torch():
    torch = pytest.importorskip("torch")
    ref = torch.nn.Linear(6, 4).double()
    ours = Linear(6, 4).astype(np.float64)
    ours.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    rng = np.random.default_rng(2)
    x, dy = rng.standard_normal((3, 6)), rng.standard_normal((3, 4))
    xt = torch.tensor(x, requires_grad=True)
    ref(xt).backward(torch.tensor(dy))
    np.testing.assert_allclose(ours(x), ref(xt).detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.backward(dy), xt.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.weight.grad, ref.weight.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.bias.grad, ref.bias.grad.numpy(), rtol=1e-12)


def test_pytorch_default_initialisation_bounds_and_dtype():
    layer = Linear(25, 400)
    bound = 1 / 5
    for p in (layer.weight.data, layer.bias.data):
        assert p.dtype == np.float32
        assert np.abs(p).max() <= bound and np.abs(p).max() > 0.9 * bound
    assert layer.weight.shape == (400, 25) and layer.bias.shape == (400,)


def test_input_dtype_decides_compute_dtype():
    layer = Linear(3, 2).astype(np.float64)
    y = layer(np.ones((1, 3), dtype=np.float32))
    assert y.dtype == np.float32
    assert layer.backward(np.ones((1, 2), dtype=np.float32)).dtype == np.float32


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="in_features"):
        Linear(0, 3)
    with pytest.raises(ValueError, match="out_features"):
        Linear(3, 2.5)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        Linear(3, 2)(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        Linear(3, 2)(np.zeros(3))

"""Flatten, ChannelSelect, GlobalAvgPool2d, GlobalMaxPool2d: loops, gradient checks, PyTorch parity."""
import numpy as np
import pytest

from minidl.gradcheck import check_module
from minidl.layers.global_pooling import GlobalAvgPool2d, GlobalMaxPool2d
from minidl.layers.shape import ChannelSelect, Flatten


def _distinct(shape, seed):
    """Values 0.1 apart in random order: no ties, so the max has a clear winner."""
    return np.random.default_rng(seed).permutation(np.prod(shape)).reshape(shape) * 0.1


def test_flatten_orders_values_like_c_and_backward_restores_the_shape():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    layer = Flatten()
    y = layer(x)
    assert y.shape == (2, 60)
    assert y[1, 2 * 20 + 3 * 5 + 4] == x[1, 2, 3, 4]
    assert not np.shares_memory(y, x)
    dy = np.random.default_rng(1).standard_normal(y.shape)
    dx = layer.backward(dy)
    assert dx.shape == x.shape and dx[1, 2, 3, 4] == dy[1, 2 * 20 + 3 * 5 + 4]


def test_channel_select_picks_channels_and_routes_gradients_back():
    x = np.random.default_rng(2).standard_normal((2, 4, 3, 3))
    layer = ChannelSelect((3, 0))
    y = layer(x)
    for k, c in enumerate((3, 0)):
        np.testing.assert_array_equal(y[:, k], x[:, c])
    dy = np.random.default_rng(3).standard_normal(y.shape)
    dx = layer.backward(dy)
    np.testing.assert_array_equal(dx[:, 3], dy[:, 0])
    np.testing.assert_array_equal(dx[:, 0], dy[:, 1])
    assert not dx[:, 1:3].any()


def test_global_pools_match_loops():
    x = np.random.default_rng(4).standard_normal((2, 3, 4, 5))
    avg, mx = GlobalAvgPool2d()(x), GlobalMaxPool2d()(x)
    assert avg.shape == mx.shape == (2, 3)
    for n in range(2):
        for c in range(3):
            values = [x[n, c, h, w] for h in range(4) for w in range(5)]
            assert avg[n, c] == pytest.approx(sum(values) / 20, rel=1e-12)
            assert mx[n, c] == max(values)


def test_global_max_gradient_goes_to_the_first_maximum_on_ties():
    x = np.zeros((1, 1, 2, 2))
    layer = GlobalMaxPool2d()
    layer(x)
    np.testing.assert_array_equal(layer.backward(np.array([[2.0]])), [[[[2.0, 0], [0, 0]]]])


@pytest.mark.parametrize("layer, x", [
    (Flatten(), np.random.default_rng(5).standard_normal((2, 3, 5, 3))),
    (ChannelSelect((2, 0)), np.random.default_rng(6).standard_normal((2, 3, 5, 3))),
    (GlobalAvgPool2d(), np.random.default_rng(7).standard_normal((2, 3, 5, 3))),
    (GlobalMaxPool2d(), _distinct((2, 3, 5, 3), 8)),
], ids=["flatten", "channel_select", "global_avg", "global_max"])
def test_gradcheck(layer, x):
    check_module(layer, x, tol=1e-6)


@pytest.mark.parametrize("name", ["flatten", "avg", "max"])
def test_matches_torch(name):
    torch = pytest.importorskip("torch")
    nn = torch.nn
    ours, ref = {"flatten": (Flatten(), nn.Flatten()),
                 "avg": (GlobalAvgPool2d(), nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())),
                 "max": (GlobalMaxPool2d(), nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten()))}[name]
    x = _distinct((2, 3, 5, 7), 9)
    xt = torch.tensor(x, requires_grad=True)
    yt = ref(xt)
    dy = np.random.default_rng(10).standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(dy))
    np.testing.assert_allclose(ours(x), yt.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.backward(dy), xt.grad.numpy(), rtol=1e-12)


def test_float32_stays_float32():
    x = np.ones((2, 3, 4, 4), dtype=np.float32)
    for layer in (Flatten(), ChannelSelect([1]), GlobalAvgPool2d(), GlobalMaxPool2d()):
        y = layer(x)
        assert y.dtype == np.float32 and layer.backward(np.ones_like(y)).dtype == np.float32


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="channels must be a non-empty"):
        ChannelSelect(())
    with pytest.raises(ValueError, match="non-negative ints"):
        ChannelSelect((0, -1))
    with pytest.raises(ValueError, match="must not repeat"):
        ChannelSelect((1, 1))
    with pytest.raises(ValueError, match="C > 3"):
        ChannelSelect((0, 3))(np.zeros((1, 3, 2, 2)))
    with pytest.raises(ValueError, match="batch axis"):
        Flatten()(np.zeros(3))
    for layer in (GlobalAvgPool2d(), GlobalMaxPool2d()):
        with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
            layer(np.zeros((2, 3, 4)))

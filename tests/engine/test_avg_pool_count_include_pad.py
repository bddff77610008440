"""AvgPool2d(count_include_pad=...): PyTorch parity both ways, the gradient check without
counting the padding, and the corner a padded window divides by its real pixels."""
import numpy as np
import pytest
from test_pooling import CASES, IDS, _separated

from minidl.fast_cpu import windows
from minidl.gradcheck import check_module
from minidl.layers.pooling import AvgPool2d


@pytest.mark.parametrize("count_include_pad", [True, False], ids=["pad-counts", "pad-not-counted"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_avg_pool_count_include_pad_matches_torch(case, count_include_pad):
    torch = pytest.importorskip("torch")
    n, c, h, w, k, s, p = case
    x = np.random.default_rng(13).standard_normal((n, c, h, w))
    layer = AvgPool2d(k, s, p, count_include_pad=count_include_pad)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.avg_pool2d(xt, k, s, p, count_include_pad=count_include_pad)
    dy = np.random.default_rng(14).standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(dy))
    np.testing.assert_allclose(layer(x), yt.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(layer.backward(dy), xt.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("case", [c for c in CASES if c[-1]], ids=[i for c, i in zip(CASES, IDS) if c[-1]])
def test_avg_pool_without_counting_padding_gradcheck_on_every_padded_case(case):
    n, c, h, w, k, s, p = case
    check_module(AvgPool2d(k, s, p, count_include_pad=False), _separated((n, c, h, w), seed=15), tol=1e-6)


def test_avg_pool_count_include_pad_divides_a_corner_by_its_real_pixels():
    x = np.ones((1, 1, 3, 3))
    padded_mean = AvgPool2d(3, 1, 1)(x)[0, 0]
    real_mean = AvgPool2d(3, 1, 1, count_include_pad=False)(x)[0, 0]
    assert padded_mean[0, 0] == 4 / 9 and padded_mean[1, 1] == 1.0
    np.testing.assert_array_equal(real_mean, np.ones((3, 3)))
    assert "count_include_pad=False" in repr(AvgPool2d(3, 1, 1, count_include_pad=False))
    assert "count_include_pad" not in repr(AvgPool2d(3))
    with pytest.raises(ValueError, match="count_include_pad must be True or False"):
        AvgPool2d(3, count_include_pad=1)


def test_avg_pool_without_counting_padding_in_chunks_and_float32():
    x = _separated((3, 2, 9, 7), seed=7)
    layer = AvgPool2d(3, 1, 1, count_include_pad=False)
    y = layer(x)
    dx = layer.backward(np.arange(y.size, dtype=float).reshape(y.shape))
    previous = windows.set_memory_budget(1)  # one output row per chunk
    try:
        np.testing.assert_array_equal(layer(x), y)
        np.testing.assert_allclose(layer.backward(np.arange(y.size, dtype=float).reshape(y.shape)), dx, rtol=1e-14)
    finally:
        windows.set_memory_budget(previous)
    y32 = layer(x.astype(np.float32))
    assert y32.dtype == layer.backward(np.ones_like(y32)).dtype == np.float32

"""MaxPool2d and AvgPool2d: loop references, gradient checks, the tie rule,
chunking, PyTorch parity, argument checks."""
import numpy as np
import pytest
from pinned import pinned

from minidl.fast_cpu import pool2x2, window_pool, windows
from minidl.gradcheck import check_module
from minidl.layers.pooling import AvgPool2d, MaxPool2d

# (N, C, H, W, kernel_size, stride, padding)
CASES = [
    (2, 3, 8, 8, 2, None, 0),              # the common 2x2: windows tile the image
    (2, 2, 7, 9, 2, None, 0),              # odd sizes: the last row/column is dropped
    (1, 2, 7, 9, 3, 2, 0),                 # overlapping windows, batch 1
    (2, 2, 7, 9, 3, 2, 1),                 # overlapping and padded
    (2, 2, 7, 8, (3, 2), (2, 1), (1, 0)),  # non-square everything
    (1, 1, 8, 7, 2, 3, 0),                 # stride > kernel: pixels no window sees
    (1, 2, 5, 6, 3, 1, 1),                 # stride 1, 'same' size
]
IDS = ["2x2", "2x2-odd", "3s2", "3s2p1", "nonsquare", "gaps", "3s1p1"]


def _separated(shape, seed=0):
    """A permutation of a grid spaced 0.1 apart: no ties, far from any kink."""
    size = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(size).reshape(shape) * 0.1 - size * 0.05


def _loop_reference(x, kernel, stride, padding, mode, count_include_pad=True):
    """Output of every window, and for max pooling the (row, col) of its first maximum."""
    (kh, kw), (ph, pw) = windows.pair(kernel, "k", 1), windows.pair(padding, "p", 0)
    sh, sw = windows.pair(kernel if stride is None else stride, "s", 1)
    n, c, h, w = x.shape
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    y = np.zeros((n, c, ho, wo))
    winner = np.zeros((n, c, ho, wo, 2), int)
    for b in range(n):
        for ch in range(c):
            for r in range(ho):
                for s in range(wo):
                    best, total, real = -np.inf, 0.0, 0
                    for i in range(kh):
                        for j in range(kw):
                            row, col = r * sh + i - ph, s * sw + j - pw
                            inside = 0 <= row < h and 0 <= col < w
                            real += inside
                            value = x[b, ch, row, col] if inside else (-np.inf if mode == "max" else 0.0)
                            total += value
                            if value > best:  # strict: the first maximum stays
                                best, winner[b, ch, r, s] = value, (row, col)
                    count = kh * kw if count_include_pad else real
                    y[b, ch, r, s] = best if mode == "max" else total / count
    return y, winner


def _max_backward_reference(dy, winner, x_shape):
    dx = np.zeros(x_shape)
    for index in np.ndindex(dy.shape):
        row, col = winner[index]
        dx[index[0], index[1], row, col] += dy[index]
    return dx


def _avg_backward_reference(dy, x_shape, kernel, stride, padding, count_include_pad=True):
    (kh, kw), (ph, pw) = windows.pair(kernel, "k", 1), windows.pair(padding, "p", 0)
    sh, sw = windows.pair(kernel if stride is None else stride, "s", 1)
    dx = np.zeros(x_shape)
    for b, ch, r, s in np.ndindex(dy.shape):
        inside = [(r * sh + i - ph, s * sw + j - pw) for i in range(kh) for j in range(kw)]
        inside = [(row, col) for row, col in inside if 0 <= row < x_shape[2] and 0 <= col < x_shape[3]]
        count = kh * kw if count_include_pad else len(inside)
        for row, col in inside:
            dx[b, ch, row, col] += dy[b, ch, r, s] / count
    return dx


@pytest.mark.parametrize("halving", [None, False], ids=["default", "general"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_max_pool_forward_and_backward_match_loops(case, halving):
    n, c, h, w, k, s, p = case
    x = _separated((n, c, h, w))
    layer = MaxPool2d(k, s, p, halving=halving)
    expected, winner = _loop_reference(x, k, s, p, "max")
    np.testing.assert_array_equal(layer(x), expected)
    dy = np.random.default_rng(1).standard_normal(expected.shape)
    np.testing.assert_allclose(layer.backward(dy), _max_backward_reference(dy, winner, x.shape), rtol=1e-14)


@pytest.mark.parametrize("include", [True, False], ids=["count-pad", "real-only"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_avg_pool_forward_and_backward_match_loops(case, include):
    n, c, h, w, k, s, p = case
    x = np.random.default_rng(2).standard_normal((n, c, h, w))
    layer = AvgPool2d(k, s, p, count_include_pad=include)
    expected, _ = _loop_reference(x, k, s, p, "avg", include)
    np.testing.assert_allclose(layer(x), expected, rtol=1e-12, atol=1e-15)
    dy = np.random.default_rng(3).standard_normal(expected.shape)
    np.testing.assert_allclose(layer.backward(dy), _avg_backward_reference(dy, x.shape, k, s, p, include),
                               rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("cls", [MaxPool2d, AvgPool2d])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradcheck(cls, case):
    n, c, h, w, k, s, p = case
    check_module(cls(k, s, p), _separated((n, c, h, w), seed=4), tol=1e-6)


@pytest.mark.parametrize("cls, function", [(MaxPool2d, "max_pool2d"), (AvgPool2d, "avg_pool2d")])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_matches_torch(cls, function, case):
    torch = pytest.importorskip("torch")
    n, c, h, w, k, s, p = case
    x = _separated((n, c, h, w), seed=5)
    layer = cls(k, s, p)
    xt = torch.tensor(x, requires_grad=True)
    yt = getattr(torch.nn.functional, function)(xt, k, s, p)
    dy = np.random.default_rng(6).standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(dy))
    np.testing.assert_allclose(layer(x), yt.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(layer.backward(dy), xt.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("halving", [None, False], ids=["default", "general"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_on_ties_each_output_feeds_exactly_its_first_maximum(case, halving):
    """Constant input: every window is one big tie. Backward of ones must give each
    window's 1 to exactly one input: the first real pixel in window order."""
    n, c, h, w, k, s, p = case
    layer = MaxPool2d(k, s, p, halving=halving)
    x = np.full((n, c, h, w), 3.0)
    y = layer(x)
    dx = layer.backward(np.ones_like(y))
    assert np.all(y == 3.0)
    assert dx.sum() == y.size  # no output's gradient split or lost
    _, winner = _loop_reference(x, k, s, p, "max")
    np.testing.assert_array_equal(dx, _max_backward_reference(np.ones_like(y), winner, x.shape))


@pytest.mark.parametrize("halving", [None, False], ids=["default", "general"])
@pytest.mark.parametrize("window, winner", [
    ([[0.0, 5.0], [5.0, 5.0]], [[0, 1], [0, 0]]),   # the later row loses a tie to the earlier one
    ([[1.0, 2.0], [5.0, 5.0]], [[0, 0], [1, 0]]),   # within a row the left column wins
    ([[5.0, 2.0], [1.0, 5.0]], [[1, 0], [0, 0]]),   # diagonal tie: the first in window order
    ([[1.0, 5.0], [5.0, 2.0]], [[0, 1], [0, 0]]),
])
def test_tie_goes_to_the_first_in_window_order(window, winner, halving):
    layer = MaxPool2d(2, halving=halving)
    layer(np.array([[window]]))
    np.testing.assert_array_equal(layer.backward(np.ones((1, 1, 1, 1))), [[winner]])


@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (1, 2, 7, 9), (3, 1, 6, 5), (2, 2, 2, 3)])
def test_halving_path_equals_the_general_path_with_many_ties(shape):
    """Small integers tie in most windows: both paths must pick the same winner."""
    x = np.random.default_rng(9).integers(0, 3, shape).astype(np.float32)
    fast, general = MaxPool2d(2), MaxPool2d(2, halving=False)
    assert fast.halving and not general.halving
    with pinned("max_pool2d", window_pool.MAX):
        y = general(x)
        dy = np.random.default_rng(10).standard_normal(y.shape).astype(np.float32)
        dx = general.backward(dy)
    with pinned("max_pool2d", pool2x2):
        np.testing.assert_array_equal(fast(x), y)
        np.testing.assert_array_equal(fast.backward(dy), dx)


@pytest.mark.parametrize("shape", [(1, 2, 6, 8), (2, 3, 7, 5)], ids=["batch1", "odd"])
def test_halving_path_gradcheck(shape):
    layer = MaxPool2d(2)
    assert layer.halving
    with pinned("max_pool2d", pool2x2):
        check_module(layer, _separated(shape, seed=11), tol=1e-6)


def test_halving_path_in_chunks_of_rows_gives_the_unchunked_result():
    x = np.random.default_rng(12).integers(0, 4, (3, 2, 9, 8)).astype(np.float64)
    layer = MaxPool2d(2)
    with pinned("max_pool2d", pool2x2):
        y = layer(x)
        dy = np.arange(y.size, dtype=float).reshape(y.shape)
        dx = layer.backward(dy)
        previous = windows.set_memory_budget(1)  # one output row per chunk
        try:
            np.testing.assert_array_equal(layer(x), y)
            np.testing.assert_array_equal(layer.backward(dy), dx)
        finally:
            windows.set_memory_budget(previous)


@pytest.mark.parametrize("args, kwargs, halving", [
    ((2,), {}, True), ((2, 2), {}, True), ((2, 2, 1), {}, False), ((3, 2), {}, False), ((2, 1), {}, False),
    ((2,), dict(halving=False), False)])
def test_which_max_pools_take_the_halving_path(args, kwargs, halving):
    layer = MaxPool2d(*args, **kwargs)
    assert layer.halving is halving
    assert ("halving=False" in repr(layer)) is not halving


def test_halving_accepts_only_none_or_false():
    with pytest.raises(ValueError, match="halving must be None or False"):
        MaxPool2d(2, halving=True)


@pytest.mark.parametrize("cls, op, impl", [(MaxPool2d, "max_pool2d", window_pool.MAX),
                                           (AvgPool2d, "avg_pool2d", window_pool.AVG)])
def test_chunks_of_samples_and_rows_give_the_unchunked_result(cls, op, impl):
    x = _separated((3, 2, 9, 7), seed=7)
    layer = cls(3, 2, 1)
    with pinned(op, impl):
        y = layer(x)
        dx = layer.backward(np.arange(y.size, dtype=float).reshape(y.shape))
        previous = windows.set_memory_budget(1)  # one output row per chunk
        try:
            assert len(window_pool._windows(x, 0.0, (3, 3), (2, 2), (1, 1))[1][2]) == 3 * 5
            np.testing.assert_array_equal(layer(x), y)
            # Overlapping windows may add a pixel's shares in another order: equal up to rounding.
            np.testing.assert_allclose(layer.backward(np.arange(y.size, dtype=float).reshape(y.shape)), dx,
                                       rtol=1e-14)
        finally:
            windows.set_memory_budget(previous)


@pytest.mark.parametrize("cls", [MaxPool2d, AvgPool2d])
def test_float32_stays_float32(cls):
    x = _separated((2, 3, 8, 8)).astype(np.float32)
    layer = cls(2)
    y = layer(x)
    assert y.dtype == layer.backward(np.ones_like(y)).dtype == np.float32


def test_avg_pool_4x4_takes_512_pixels_to_128():
    x = np.random.default_rng(8).standard_normal((1, 4, 512, 512)).astype(np.float32)
    y = AvgPool2d(4)(x)
    assert y.shape == (1, 4, 128, 128)
    np.testing.assert_allclose(y, x.reshape(1, 4, 128, 4, 128, 4).mean(axis=(3, 5)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls", [MaxPool2d, AvgPool2d])
def test_stride_defaults_to_kernel_size(cls):
    assert cls(3).stride == (3, 3) and cls((2, 3)).stride == (2, 3) and cls(3, 1).stride == (1, 1)
    assert "kernel_size=(3, 3)" in repr(cls(3))


@pytest.mark.parametrize("cls", [MaxPool2d, AvgPool2d])
@pytest.mark.parametrize("args, match", [((0,), "kernel_size"), ((2, 0), "stride"), ((2, 2, -1), "padding"),
                                         ((3, 1, 2), "at most half"), ((2.0,), "kernel_size")])
def test_bad_arguments_are_refused_at_construction(cls, args, match):
    with pytest.raises(ValueError, match=match):
        cls(*args)


@pytest.mark.parametrize("cls", [MaxPool2d, AvgPool2d])
@pytest.mark.parametrize("shape, match", [((3, 5, 5), "x must have shape"), ((1, 1, 2, 5), "smaller than kernel_size")])
def test_bad_inputs_are_refused_at_forward(cls, shape, match):
    with pytest.raises(ValueError, match=match):
        cls(3)(np.zeros(shape))


@pytest.mark.parametrize("shape, match", [((3, 5, 5), "x must have shape"), ((1, 1, 1, 5), "smaller than")])
def test_halving_path_refuses_bad_inputs(shape, match):
    with pytest.raises(ValueError, match=match):
        MaxPool2d(2)(np.zeros(shape))

"""Conv2d and the window machinery under it: a loop reference, gradient checks,
chunking, PyTorch parity, argument checks; each for the plain and the folded
im2col path (stride 1), and the choice between them."""
import numpy as np
import pytest
from parity import assert_torch_parity, copy_into
from pinned import pinned

from minidl.fast_cpu import conv_folded, windows
from minidl.gradcheck import check_module
from minidl.layers.conv import Conv2d

# (N, C, O, H, W, kernel_size, stride, padding, bias)
CASES = [
    (2, 3, 4, 7, 9, 3, 1, 1, True),                  # odd sizes, 'same' padding
    (2, 2, 3, 7, 9, 3, 2, 1, True),                  # stride 2 with padding 1
    (1, 2, 3, 7, 8, 5, 1, 2, True),                  # kernel 5, padding 2, batch 1
    (2, 2, 3, 7, 9, (3, 2), (2, 1), (1, 0), True),   # non-square everything
    (2, 3, 4, 5, 5, 1, 1, 0, True),                  # 1x1
    (1, 1, 2, 6, 7, 3, 2, 0, False),                 # in_channels 1, no bias, stride drops a row
    (2, 2, 2, 8, 7, 2, 3, 0, True),                  # stride > kernel: pixels no window sees
]
IDS = ["3x3s1p1", "3x3s2p1", "5x5p2", "nonsquare", "1x1", "c1-nobias", "gaps"]

# Every case on the plain path, and the stride-1 cases on the folded path too.
PATHS = [pytest.param(case, False, id=f"{name}-plain") for case, name in zip(CASES, IDS)] + [
    pytest.param(case, True, id=f"{name}-folded") for case, name in zip(CASES, IDS) if case[6] == 1]


def _layer(case, dtype=np.float64, seed=0, fold=None):
    n, c, o, h, w, k, s, p, bias = case
    layer = Conv2d(c, o, k, stride=s, padding=p, bias=bias, fold=fold).astype(dtype)
    x = np.random.default_rng(seed).standard_normal((n, c, h, w)).astype(dtype)
    return layer, x


def _loop_reference(x, weight, bias, stride, padding):
    """Every output pixel as an explicit sum over its window."""
    (sh, sw), (ph, pw) = windows.pair(stride, "stride", 1), windows.pair(padding, "padding", 0)
    n, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    xpad = np.zeros((n, c, h + 2 * ph, w + 2 * pw))
    xpad[:, :, ph:ph + h, pw:pw + w] = x
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    y = np.zeros((n, o, ho, wo))
    for b in range(n):
        for oc in range(o):
            for r in range(ho):
                for s in range(wo):
                    total = 0.0 if bias is None else bias[oc]
                    for ic in range(c):
                        for i in range(kh):
                            for j in range(kw):
                                total += weight[oc, ic, i, j] * xpad[b, ic, r * sh + i, s * sw + j]
                    y[b, oc, r, s] = total
    return y


@pytest.mark.parametrize("case, fold", PATHS)
def test_forward_matches_a_loop(case, fold):
    layer, x = _layer(case, fold=fold)
    bias = None if layer.bias is None else layer.bias.data
    expected = _loop_reference(x, layer.weight.data, bias, case[6], case[7])
    y = layer(x)
    assert y.shape == expected.shape and y.flags.c_contiguous
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case, fold", PATHS)
def test_gradcheck(case, fold):
    layer, x = _layer(case, seed=1, fold=fold)
    report = check_module(layer, x, tol=1e-6)
    names = [r.name for r in report.results]
    assert names == ["input", "weight"] + (["bias"] if case[-1] else [])


@pytest.mark.parametrize("case, fold", PATHS)
def test_matches_torch_forward_and_all_gradients(case, fold):
    torch = pytest.importorskip("torch")
    layer, x = _layer(case, seed=2, fold=fold)
    _, c, o, _, _, k, s, p, bias = case
    ref = torch.nn.Conv2d(c, o, k, stride=s, padding=p, bias=bias).double()
    copy_into(layer, ref)
    assert_torch_parity(layer, ref, x, torch)


def _forward_backward(layer, x, dy):
    """Through the fast CPU path (``conv_folded``), whatever MINIDL_IMPL says: chunks and folding are its own."""
    layer.zero_grad()
    with pinned("conv2d", conv_folded):
        y = layer(x)
        dx = layer.backward(dy)
    return (y, dx) + tuple(p.grad.copy() for _, p in layer.named_parameters())


def _plan(layer, x):
    return conv_folded.plan_for(x.shape, layer.weight.shape, layer.stride, layer.padding, layer.fold)


def _chunks(layer, x, plan):
    return conv_folded.chunk_ranges(x.shape, x.dtype, plan, layer.memory_budget)


# Plain 3x3s1p1, 3x3s2p1 and nonsquare; folded 3x3s1p1 and 5x5p2.
@pytest.mark.parametrize("case, fold", [PATHS[0], PATHS[1], PATHS[3], PATHS[len(CASES)], PATHS[len(CASES) + 1]])
def test_chunks_of_samples_and_of_rows_give_the_unchunked_result(case, fold):
    layer, x = _layer(case, seed=4, fold=fold)
    dy = np.random.default_rng(5).standard_normal(layer(x).shape)
    whole = _forward_backward(layer, x, dy)
    plan = _plan(layer, x)
    assert len(_chunks(layer, x, plan)) == 1
    ho, wr, kh, kw = plan.out_rows, plan.row_width, *layer.kernel_size
    kc, f = plan.copied_kernel_cols, plan.folded_kernel_cols
    assert kc * f == kw and (kc, f) == ((1, kw) if fold else (kw, 1))
    row_bytes = 8 * wr * (x.shape[1] * kh * kc + f * layer.out_channels)  # columns + product
    for budget, kind in ((ho * row_bytes, "one sample"), (2 * row_bytes, "two rows"), (1, "one row")):
        layer.memory_budget = budget
        chunks = _chunks(layer, x, plan)
        assert len(chunks) == {"one sample": 1, "two rows": -(-ho // 2), "one row": ho}[kind] * x.shape[0], kind
        for got, expected in zip(_forward_backward(layer, x, dy), whole):
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14, err_msg=kind)


# (C, O, H, W, kernel_size, padding): stride 1, each kernel size, square or not, with and without padding.
FOLD_SHAPES = [(3, 4, 6, 7, 1, 0), (2, 3, 6, 7, 2, 0), (3, 2, 7, 9, 3, 1), (2, 5, 6, 6, 4, (2, 1)),
               (2, 3, 8, 9, 5, 2), (1, 2, 9, 8, 7, 3), (2, 3, 7, 9, (3, 5), (1, 2)), (3, 2, 7, 6, (5, 2), 0)]


@pytest.mark.parametrize("c, o, h, w, kernel, padding", FOLD_SHAPES,
                         ids=["1x1", "2x2", "3x3p1", "4x4p21", "5x5p2", "7x7p3", "3x5p12", "5x2"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_folded_and_plain_paths_agree(c, o, h, w, kernel, padding, bias):
    """Same output, input gradient and parameter gradients, on one chunk and on chunks of rows."""
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, c, h, w))
    plain = Conv2d(c, o, kernel, padding=padding, bias=bias, fold=False).astype(np.float64)
    folded = Conv2d(c, o, kernel, padding=padding, bias=bias, fold=True).astype(np.float64)
    folded.load_state_dict(plain.state_dict())
    dy = rng.standard_normal(plain(x).shape)
    expected = _forward_backward(plain, x, dy)
    for budget in (None, 1):
        folded.memory_budget = budget
        for got, want in zip(_forward_backward(folded, x, dy), expected):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("c, o, kernel, stride, padding, folded", [
    (16, 32, 5, 1, 2, True),        # the parallel LeNet's second layer: C*kh = 80 >= 32
    (16, 32, 5, 1, 0, True),        # padding does not matter
    (2, 16, 5, 1, 2, False),        # its first layer: C*kh = 10 < 16, too short an inner dimension
    (8, 24, 3, 1, 1, True),         # C*kh == O: folding moves as much memory, runs a better product
    (8, 25, 3, 1, 1, False),
    (64, 128, 3, 1, 1, True),
    (16, 32, 5, 2, 2, False),       # stride 2 cannot fold
    (16, 32, 5, (1, 2), 2, False),  # nor stride 2 along the width
    (16, 32, 5, (2, 1), 2, False),  # nor along the height: folding relies on stride 1's wide rows
])
def test_fold_none_picks_the_path_by_shape(c, o, kernel, stride, padding, folded):
    layer = Conv2d(c, o, kernel, stride=stride, padding=padding)
    assert layer.fold is folded
    assert f"fold={folded}" in repr(layer)


def test_global_memory_budget_chunks_every_layer():
    layer, x = _layer(CASES[0], seed=6)
    dy = np.random.default_rng(7).standard_normal(layer(x).shape)
    whole = _forward_backward(layer, x, dy)
    previous = windows.set_memory_budget(1)
    try:
        assert len(_chunks(layer, x, _plan(layer, x))) == x.shape[0] * 7  # one output row each
        chunked = _forward_backward(layer, x, dy)
    finally:
        windows.set_memory_budget(previous)
    for got, expected in zip(chunked, whole):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="memory budget"):
        windows.set_memory_budget(0)


@pytest.mark.parametrize("stride, padding, wide", [((1, 1), (1, 2), True), ((2, 1), (1, 0), False)])
def test_col2im_is_the_adjoint_of_im2col(stride, padding, wide):
    """<im2col(x), c> == <x, col2im(c)> for every x and c: the backward scatter is exact."""
    rng = np.random.default_rng(8)
    kernel, x = (3, 2), rng.standard_normal((2, 3, 6, 7))
    ho, wo = windows.output_size(x.shape, kernel, stride, padding)
    wr = windows.row_width(x.shape, kernel, stride, padding)
    assert (wr > wo) == wide
    xpad = windows.pad(x, padding, extra_rows=int(wide))
    cols = windows.im2col(windows.window_view(xpad, kernel, stride, ho, wr)).copy()
    c = rng.standard_normal(cols.shape)
    junk = np.zeros((2, ho, wr), bool)
    junk[..., wo:] = True  # the caller gives junk columns zero gradient
    c[:, junk.ravel()] = 0
    dxpad = np.zeros_like(xpad)
    windows.col2im(c, windows.window_view(dxpad, kernel, stride, ho, wr))
    ph, pw = padding
    dx = dxpad[:, :, ph:ph + 6, pw:pw + 7]
    np.testing.assert_allclose(np.sum(cols * c), np.sum(x * dx), rtol=1e-12)


def test_window_view_refuses_to_run_past_the_array():
    xpad = np.zeros((1, 1, 4, 4))
    with pytest.raises(ValueError, match="run past"):
        windows.window_view(xpad, (3, 3), (1, 1), 2, 4)  # wide rows need one more row


def test_float32_in_float32_out_and_no_upcast():
    layer, x = _layer(CASES[1], dtype=np.float32)
    assert layer.weight.dtype == np.float32
    y = layer(x)
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == layer.weight.grad.dtype == np.float32


def test_gradients_accumulate_until_zero_grad():
    layer, x = _layer(CASES[0], seed=9)
    dy = np.ones(layer(x).shape)
    layer.backward(dy)
    first = layer.weight.grad.copy(), layer.bias.grad.copy()
    layer(x)
    layer.backward(dy)
    np.testing.assert_allclose(layer.weight.grad, 2 * first[0])
    np.testing.assert_allclose(layer.bias.grad, 2 * first[1])
    layer.zero_grad()
    assert not layer.weight.grad.any() and not layer.bias.grad.any()


def test_pytorch_default_initialisation_and_parameters():
    layer = Conv2d(4, 32, 3)
    bound = 1 / np.sqrt(4 * 3 * 3)
    assert layer.weight.shape == (32, 4, 3, 3) and layer.bias.shape == (32,)
    for p in (layer.weight.data, layer.bias.data):
        assert p.dtype == np.float32
        assert bound >= np.abs(p).max() > 0.8 * bound
    assert [name for name, _ in Conv2d(1, 2, 3, bias=False).named_parameters()] == ["weight"]
    assert "kernel_size=(3, 3)" in repr(layer)


@pytest.mark.parametrize("kwargs, match", [
    (dict(kernel_size=0), "kernel_size"),
    (dict(kernel_size=(3, 0)), "kernel_size"),
    (dict(kernel_size=(3, 3, 3)), "kernel_size"),
    (dict(kernel_size=2.5), "kernel_size"),
    (dict(kernel_size=3, stride=0), "stride"),
    (dict(kernel_size=3, padding=-1), "padding"),
    (dict(kernel_size=3, memory_budget=0), "memory_budget"),
    (dict(kernel_size=3, fold="yes"), "fold must be"),
    (dict(kernel_size=3, stride=2, fold=True), "fold=True needs stride 1"),
    (dict(kernel_size=3, stride=(1, 2), fold=True), "fold=True needs stride 1"),
])
def test_bad_arguments_are_refused_at_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Conv2d(2, 3, **kwargs)
    with pytest.raises(ValueError, match="in_channels"):
        Conv2d(0, 3, 3)


@pytest.mark.parametrize("shape, match", [((2, 3, 5, 5), "x must have shape"), ((2, 2, 5), "x must have shape"),
                                          ((1, 2, 2, 5), "smaller than kernel_size")])
def test_bad_inputs_are_refused_at_forward(shape, match):
    with pytest.raises(ValueError, match=match):
        Conv2d(2, 3, 3)(np.zeros(shape, np.float32))


@pytest.mark.parametrize("case, fold", [PATHS[0], PATHS[1], PATHS[len(CASES) + 1]])
def test_input_grad_false_returns_none_and_the_same_parameter_gradients(case, fold):
    layer, x = _layer(case, seed=11, fold=fold)
    dy = np.random.default_rng(12).standard_normal(layer(x).shape)
    with_input = _forward_backward(layer, x, dy)
    layer.input_grad = False
    without = _forward_backward(layer, x, dy)
    assert without[1] is None and "input_grad=False" in repr(layer)
    for got, want in zip(without[:1] + without[2:], with_input[:1] + with_input[2:]):
        np.testing.assert_array_equal(got, want)
    check_module(layer, x, tol=1e-6, check_input=False)  # the parameter gradients alone

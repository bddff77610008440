"""The compiled conv2d (``minidl/compiled/conv_im2col.py``) against the op's reference and the NumPy path.

Forward and backward (dx, dW, db) on edge-case shapes in float32 and float64,
the direct path (``conv_direct``: stride 1, at most 2 input channels) and the
im2col one, plain and folded, chunked by samples and by rows; on the im2col path
y, dx and dW bit-identical to ``conv_folded`` (same additions in the same
order); results bit-identical twice and on one thread. Without numba the module skips (``test_compiled_switch.py``
covers the absent extra). The layer-level tests of ``test_conv.py`` (loop
reference, gradient checks, PyTorch parity) run through this implementation
too whenever it is enabled.
"""
import collections

import numpy as np
import pytest

pytest.importorskip("numba")

from reproducible import assert_same_bits_twice_and_on_one_thread  # noqa: E402

from minidl import compiled, ops  # noqa: E402
from minidl.compiled import conv_direct, conv_im2col  # noqa: E402
from minidl.fast_cpu import conv_folded  # noqa: E402
from minidl.ops import registry  # noqa: E402

DTYPES = [np.float32, np.float64]
TOL = {np.float32: 3e-5, np.float64: 1e-12}

# x shape, weight shape, then what differs from stride 1, no padding, a bias and an input gradient.
Case = collections.namedtuple("Case", "x weight stride padding bias input_grad",
                              defaults=((1, 1), (0, 0), True, True))
CASES = {
    "3x3 pad 1 odd sizes": Case((2, 3, 7, 9), (4, 3, 3, 3), padding=(1, 1)),
    "stride 2 pad 0 batch 1": Case((1, 2, 9, 8), (3, 2, 3, 3), stride=(2, 2)),
    "stride 2 pad 1 drops a row": Case((2, 2, 8, 7), (3, 2, 3, 3), (2, 2), (1, 1)),
    "5x5 pad 2 folded": Case((2, 16, 10, 11), (8, 16, 5, 5), padding=(2, 2), bias=False),
    "7x7 stride 2 pad 3 rectangular stride": Case((1, 3, 11, 8), (2, 3, 7, 7), (2, 1), (3, 3)),
    "1x1": Case((2, 3, 6, 5), (5, 3, 1, 1)),
    "non-square kernel and padding": Case((2, 2, 7, 9), (3, 2, 3, 2), (2, 1), (1, 0)),
    "first layer: no input gradient": Case((2, 2, 12, 12), (16, 2, 5, 5), padding=(2, 2), input_grad=False),
    "stride > kernel: unseen pixels": Case((2, 2, 8, 7), (2, 2, 2, 2), stride=(3, 3)),
    "6 channels 3x3 pad 1 plain": Case((2, 6, 7, 9), (20, 6, 3, 3), padding=(1, 1)),
    "direct, 2 channels, pad 0 and 2": Case((1, 2, 9, 7), (3, 2, 5, 3), padding=(0, 2)),
    "direct, 1 channel 7x7 pad 3, no bias": Case((2, 1, 8, 9), (2, 1, 7, 7), padding=(3, 3), bias=False),
}
DIRECT = [name for name, case in CASES.items() if conv_direct.suits(case[0], case[1], case[2])]
IM2COL = [name for name in CASES if name not in DIRECT]
FOLDS = [None, False, True]


# About the kernels themselves: CI's switches must not turn them off.
pytestmark = pytest.mark.usefixtures("kernels_on")


def _arrays(case, dtype, seed=0):
    x_shape, w_shape, stride, padding, bias, _ = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype) if bias else None
    return x, w, b, dict(stride=stride, padding=padding)


def _run(impl, x, w, b, hyper, input_grad, seed=1, **extra):
    y, saved = impl.forward(x, w, b, **hyper, **extra)
    dy = np.random.default_rng(seed).standard_normal(y.shape).astype(x.dtype)
    return (y,) + tuple(impl.backward(dy, saved, input_grad=input_grad, **hyper, **extra))


def _folds(case):
    return [f for f in FOLDS if not (f and case[2] != (1, 1))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(CASES))
def test_matches_the_reference_forward_and_backward(name, dtype):
    case = CASES[name]
    x, w, b, hyper = _arrays(case, dtype)
    expected = _run(ops.reference("conv2d"), x, w, b, hyper, case[5])
    for fold in _folds(case):
        got = _run(conv_im2col, x, w, b, hyper, case[5], fold=fold)
        for part, g, e in zip(("y", "dx", "dW", "db"), got, expected):
            assert (g is None) == (e is None), part
            if e is not None:
                assert g.shape == e.shape and g.dtype == dtype, part
                np.testing.assert_allclose(g, e, rtol=TOL[dtype], atol=TOL[dtype], err_msg=f"{part} fold={fold}")


def test_the_cases_cover_both_paths():
    assert len(DIRECT) >= 3 and len(IM2COL) >= 6


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", IM2COL)
def test_im2col_path_y_dx_dw_are_bit_identical_to_the_numpy_path(name, dtype):
    case = CASES[name]
    x, w, b, hyper = _arrays(case, dtype, seed=2)
    for fold in _folds(case):
        got = _run(conv_im2col, x, w, b, hyper, case[5], fold=fold)
        numpy_path = _run(conv_folded, x, w, b, hyper, case[5], fold=fold)
        for g, e in zip(got[:3], numpy_path[:3]):
            assert (g is None and e is None) or g.tobytes() == e.tobytes()


@pytest.mark.parametrize("budget", [1, 700, 6000], ids=["row-by-row", "few-rows", "few-samples"])
@pytest.mark.parametrize("fold", [False, True])
def test_chunks_by_rows_and_samples_give_the_reference(fold, budget):
    """Small budgets cut the batch into chunks of samples or of output rows: col2im then adds
    overlapping windows from two chunks onto the same input rows."""
    case = ((3, 5, 9, 10), (3, 5, 3, 3), (1, 1), (1, 1), True, True)  # 5 channels: the im2col path
    x, w, b, hyper = _arrays(case, np.float64, seed=3)
    expected = _run(ops.reference("conv2d"), x, w, b, hyper, True)
    got = _run(conv_im2col, x, w, b, hyper, True, fold=fold, memory_budget=budget)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_takes_a_non_contiguous_input_and_gradient(dtype):
    x, w, b, hyper = _arrays(CASES["3x3 pad 1 odd sizes"], dtype, seed=4)
    wide = np.random.default_rng(5).standard_normal((2, 3, 7, 18)).astype(dtype)
    x = wide[:, :, :, ::2]
    y, saved = conv_im2col.forward(x, w, b, **hyper)
    y_ref, saved_ref = ops.reference("conv2d").forward(x, w, b, **hyper)
    np.testing.assert_allclose(y, y_ref, rtol=TOL[dtype], atol=TOL[dtype])
    dy = np.random.default_rng(6).standard_normal((2, 4, 7, 18)).astype(dtype)[..., ::2]
    for g, e in zip(conv_im2col.backward(dy, saved, **hyper), ops.reference("conv2d").backward(dy, saved_ref, **hyper)):
        np.testing.assert_allclose(g, e, rtol=TOL[dtype], atol=TOL[dtype])


def _every_result(dtype):
    results = []
    for name in ("5x5 pad 2 folded", "stride 2 pad 1 drops a row", "first layer: no input gradient",
                 "6 channels 3x3 pad 1 plain", "direct, 2 channels, pad 0 and 2"):
        case = CASES[name]
        x, w, b, hyper = _arrays(case, dtype, seed=7)
        results += [r for r in _run(conv_im2col, x, w, b, hyper, case[5]) if r is not None]
    return results


@pytest.mark.parametrize("dtype", DTYPES)
def test_results_are_bit_identical_twice_and_on_one_thread(dtype):
    assert_same_bits_twice_and_on_one_thread(lambda: _every_result(dtype))


@pytest.mark.skipif("numba_im2col" not in [i.name for i in registry.get("conv2d").implementations],
                    reason="MINIDL_COMPILED=0 as the op table loaded: the compiled kernels are not in it")
def test_the_table_prefers_the_compiled_conv_while_enabled():
    x = np.ones((2, 3, 4, 4), np.float32)
    assert registry.choose("conv2d", "cpu", x).name == "numba_im2col"
    with compiled.off():
        assert registry.choose("conv2d", "cpu", x).name == "folded_im2col"
    assert registry.choose("conv2d", "cpu", x.astype(np.int32)).name == "folded_im2col"

"""The compiled kernels (``minidl.compiled``, the ``fast`` extra) against their ops' references.

Forward and backward on edge-case shapes in float32 and float64; element-wise
kernels and pooling must match exactly, batch norm within rounding. Results are
reproducible: bit-identical twice and with another thread count. Without numba
the whole module skips; ``test_compiled_switch.py`` covers the switch and the
absent extra.
"""
import copy

import numpy as np
import pytest

pytest.importorskip("numba")

from reproducible import assert_same_bits_twice_and_on_one_thread  # noqa: E402

from minidl import compiled, ops  # noqa: E402
from minidl.compiled import adam_onepass, batch_norm_channels, pool2x2_onepass, relu_onepass  # noqa: E402
from minidl.ops import registry  # noqa: E402

DTYPES = [np.float32, np.float64]
TOL = {np.float32: 2e-5, np.float64: 1e-12}


# About the kernels themselves: CI's switches must not turn them off.
pytestmark = pytest.mark.usefixtures("kernels_on")


def _normal(shape, dtype, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _reference(name):
    return ops.reference(name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 13), (3, 5, 7, 9), (2, 1, 1, 1)], ids=["batch1-2d", "odd-4d", "ones"])
def test_relu_matches_the_reference_exactly(shape, dtype):
    x = _normal(shape, dtype, 0)
    x.flat[::5] = 0  # the kink: y = 0 and no gradient, as the reference
    dy = _normal(shape, dtype, 1)
    y, saved = relu_onepass.forward(x)
    y_ref, saved_ref = _reference("relu").forward(x)
    np.testing.assert_array_equal(y, y_ref)
    assert y.dtype == x.dtype
    np.testing.assert_array_equal(relu_onepass.backward(dy, saved)[0], _reference("relu").backward(dy, saved_ref)[0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_takes_non_contiguous_arrays(dtype):
    x = _normal((4, 6), dtype, 2)[:, ::2]
    np.testing.assert_array_equal(relu_onepass.forward(x)[0], np.maximum(x, 0))
    x, padded = _normal((2, 3, 5, 4), dtype, 3), _normal((2, 3, 9, 8), dtype, 4)
    dy = padded[:, :, 2:7, 1:5]  # a view into a padded gradient, as conv2d's backward returns
    y, positive = relu_onepass.forward(x)
    np.testing.assert_array_equal(relu_onepass.backward(dy, positive)[0], dy * (x > 0))


BN_CASES = [
    ((3, 4, 5, 6), {}),                     # L = 30: rows longer than the 4 partial sums, with a tail
    ((1, 3, 5, 7), {}),                     # batch 1
    ((6, 5), {}),                           # 1-d features: L = 1
    ((2, 3, 7), {"eps": 1e-3}),             # sequences
    ((2, 3, 4, 4), {"training": False}),    # eval: the running statistics
]


def _bn_inputs(shape, dtype):
    c = shape[1]
    gen = np.random.default_rng(3)
    x = (gen.standard_normal(shape) * 2 + 0.5).astype(dtype)
    params = [gen.uniform(0.5, 1.5, c).astype(dtype), gen.standard_normal(c).astype(dtype)]
    buffers = [gen.uniform(-0.5, 0.5, c).astype(dtype), gen.uniform(0.5, 1.5, c).astype(dtype)]
    return x, params, buffers, gen.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, hyper", BN_CASES, ids=["4d", "batch1", "1d", "seq-eps", "eval"])
def test_batch_norm_matches_the_reference(shape, hyper, dtype):
    x, params, buffers, dy = _bn_inputs(shape, dtype)
    reference = _reference("batch_norm")
    y, saved, stats = batch_norm_channels.forward(x, *params, *buffers, **hyper)
    y_ref, saved_ref, stats_ref = reference.forward(x, *params, *buffers, **hyper)
    tol = TOL[dtype]
    np.testing.assert_allclose(y, y_ref, rtol=tol, atol=tol)
    assert y.dtype == x.dtype and y.shape == x.shape
    if stats_ref is None:
        assert stats is None
    else:
        for got, want in zip(stats, stats_ref):
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    for got, want in zip(batch_norm_channels.backward(dy, saved, **hyper), reference.backward(dy, saved_ref, **hyper)):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * 10)



@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_in_eval_keeps_an_inf_input_out_of_the_input_gradient(dtype):
    """In eval y = gamma (x - running_mean) r + beta is affine in x: dx = dy gamma r, finite
    wherever dy is, as the reference gives, even where x is inf or NaN."""
    x, params, buffers, dy = _bn_inputs((2, 3, 4, 4), dtype)
    x[0, 1, 2, 3], x[1, 2, 0, 0], x[1, 0, 3, 1] = np.inf, -np.inf, np.nan
    _, saved, _ = batch_norm_channels.forward(x, *params, *buffers, training=False)
    _, saved_ref, _ = _reference("batch_norm").forward(x, *params, *buffers, training=False)
    dx = batch_norm_channels.backward(dy, saved, training=False)[0]
    dx_ref = _reference("batch_norm").backward(dy, saved_ref, training=False)[0]
    assert np.isfinite(dx_ref).all()
    np.testing.assert_allclose(dx, dx_ref, rtol=TOL[dtype], atol=TOL[dtype])

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (2, 2, 7, 9), (1, 1, 2, 2), (1, 2, 3, 6)],
                         ids=["even", "odd-cropped", "batch1-one-window", "odd-rows"])
@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
def test_max_pool_2x2_matches_the_reference_exactly(shape, ties, dtype):
    gen = np.random.default_rng(4)
    # ties: values from {0, 1, 2}, so most windows hold their maximum more than once
    x = (gen.integers(0, 3, shape) if ties else gen.standard_normal(shape)).astype(dtype)
    hyper = dict(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))
    assert pool2x2_onepass.supports(x, **hyper)
    reference = _reference("max_pool2d")
    y, saved = pool2x2_onepass.forward(x, **hyper)
    y_ref, saved_ref = reference.forward(x, **hyper)
    np.testing.assert_array_equal(y, y_ref)
    dy = _normal(y.shape, dtype, 5)
    np.testing.assert_array_equal(pool2x2_onepass.backward(dy, saved, **hyper)[0],
                                  reference.backward(dy, saved_ref, **hyper)[0])


def test_max_pool_declines_other_windows():
    x = np.zeros((1, 1, 6, 6), np.float32)
    assert not pool2x2_onepass.supports(x, kernel_size=(3, 3), stride=(2, 2), padding=(0, 0))
    assert not pool2x2_onepass.supports(x, kernel_size=(2, 2), stride=(2, 2), padding=(1, 1))


ADAM_CASES = [dict(lr=1e-2), dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
              dict(lr=3e-2, betas=(0.5, 0.9), weight_decay=0.3, decoupled=True)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hyper", ADAM_CASES, ids=["adam", "adam-l2", "adamw"])
@pytest.mark.parametrize("shape", [(1,), (7, 5), (3, 33, 17)], ids=["one", "2d", "odd-3d"])
def test_adam_is_bit_identical_to_the_reference(shape, hyper, dtype):
    param, want = _normal(shape, dtype, 6), None
    want, state, state_ref = param.copy(), {}, {}
    for step in range(3):  # the bias corrections change with t
        grad = _normal(shape, dtype, 7 + step)
        kept = grad.copy()
        adam_onepass.update(param, grad, state, **hyper)
        _reference("adam").update(want, grad, state_ref, **hyper)
        np.testing.assert_array_equal(grad, kept)  # the gradient is not written to
    np.testing.assert_array_equal(param, want)
    np.testing.assert_array_equal(state["exp_avg"], state_ref["exp_avg"])
    np.testing.assert_array_equal(state["exp_avg_sq"], state_ref["exp_avg_sq"])
    assert state["step"] == state_ref["step"] == 3


def _every_result(dtype):
    """Forward and backward of every kernel on a shape with many channels and rows."""
    x, params, buffers, dy = _bn_inputs((5, 12, 33, 31), dtype)
    y, saved, stats = batch_norm_channels.forward(x, *params, *buffers)
    results = [y, *stats[:2], *batch_norm_channels.backward(dy, saved)]
    y, saved = relu_onepass.forward(x)
    results += [y, relu_onepass.backward(dy, saved)[0]]
    hyper = dict(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))
    y, saved = pool2x2_onepass.forward(x, **hyper)
    results += [y, pool2x2_onepass.backward(dy[:, :, :16, :15], saved, **hyper)[0]]
    param, state = x.copy(), {}
    for _ in range(2):
        adam_onepass.update(param, dy, state, lr=1e-3, weight_decay=1e-2, decoupled=True)
    return results + [param, state["exp_avg"], state["exp_avg_sq"]]


@pytest.mark.parametrize("dtype", DTYPES)
def test_results_are_bit_identical_twice_and_on_one_thread(dtype):
    assert_same_bits_twice_and_on_one_thread(lambda: _every_result(dtype))


REGISTERED = pytest.mark.skipif(
    "numba_onepass" not in [i.name for i in registry.get("relu").implementations],
    reason="MINIDL_COMPILED=0 as the op table loaded: the compiled kernels are not in it")


@REGISTERED
def test_the_table_prefers_the_compiled_kernels_while_enabled():
    x = np.ones((2, 3, 4, 4), np.float32)
    assert ops.implementation("relu", x) is not ops.reference("relu")
    chosen = {name: registry.choose(name, "cpu", x, **hyper).name for name, hyper in [
        ("relu", {}), ("batch_norm", {}), ("adam", {}),
        ("max_pool2d", dict(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0)))]}
    assert chosen == {"relu": "numba_onepass", "batch_norm": "numba_channels", "adam": "numba_onepass",
                      "max_pool2d": "numba_2x2"}
    with compiled.off():
        assert registry.choose("relu", "cpu", x) is None  # the reference: relu has no NumPy fast path
        assert registry.choose("batch_norm", "cpu", x).name == "inplace_centred"
    assert registry.choose("relu", "cpu", x.astype(np.int32)) is None  # integers: not these kernels


def test_layers_train_the_same_through_the_compiled_kernels():
    """A conv-pool-BN-ReLU stack: one step with the kernels matches one without. (The conv has no
    bias, as in hpa's networks: before batch norm its gradient is zero up to rounding, and Adam
    would turn that rounding into a full step.)"""
    from minidl import layers as nn
    from minidl.optim import Adam
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(4), nn.ReLU())
    x, dy = _normal((2, 2, 8, 8), np.float64, 8), _normal((2, 4, 4, 4), np.float64, 9)
    results = []
    for off in (False, True):
        model = copy.deepcopy(net).astype(np.float64)
        optimizer = Adam(model.parameters(), lr=1e-2)
        with compiled.off() if off else _nothing():
            y = model(x)
            model.backward(dy)
            optimizer.step()
        results.append([y] + [p.grad for p in model.parameters()] + [p.data for p in model.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

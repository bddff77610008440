"""The optimizer ops: the blocked host Adam (minidl/fast_cpu/adam_blocked.py) and the fused
GPU Adam (adam.cu through its launcher, on the fake device) against the reference
update of minidl/ops/adam.py; the optimizers' dispatch through minidl.ops."""
import contextlib

import numpy as np
import pytest

from minidl import Parameter, backend, ops
from minidl.fast_cpu import adam_blocked
from minidl.kernels.device_training import FusedAdam
from minidl.ops import adam, sgd
from minidl.optim import SGD, Adam, AdamW

HYPER = {  # label: the Adam op's hyper-parameters
    "adam": dict(lr=1e-2),
    "adam-l2": dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
    "adamw": dict(lr=3e-2, betas=(0.5, 0.9), weight_decay=0.3, decoupled=True),
    "adamw-no-decay": dict(lr=1e-2, weight_decay=0.0, decoupled=True),
}
SHAPES = {"1-element": (1,), "matrix": (5, 7), "odd-vector": (23,)}


def _steps(update, start, grads, hyper):
    """Run ``update`` over the gradients from ``start``; (parameter, its state) after."""
    param, state = start.copy(order="K"), {}
    for g in grads:
        update(param, g, state, **hyper)
    return param, state


def _problem(shape, dtype, transposed=False, n_steps=4, seed=0):
    rng = np.random.default_rng(seed)
    draw_shape = shape[::-1] if transposed else shape
    start = rng.normal(size=draw_shape).astype(dtype)
    grads = [rng.normal(size=draw_shape).astype(dtype) for _ in range(n_steps)]
    if transposed:  # a non-contiguous parameter, and gradients like it
        start, grads = start.T, [g.T for g in grads]
    return start, grads


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("label", HYPER)
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("block_size", [7, adam_blocked.BLOCK_SIZE])
def test_blocked_adam_is_the_reference_bit_for_bit(block_size, shape, label, dtype):
    """Blocks of 7 cut a (5, 7) matrix mid-row and leave a short last block; the default
    block holds these parameters whole. Parameter and both moments, every bit."""
    start, grads = _problem(shape, dtype)
    want, want_state = _steps(adam.update, start, grads, HYPER[label])
    got, got_state = _steps(lambda *a, **h: adam_blocked.update(*a, block_size=block_size, **h),
                            start, grads, HYPER[label])
    assert not np.array_equal(want, start)  # the update did move the parameter
    np.testing.assert_array_equal(got, want)
    assert got.dtype == dtype and got_state["step"] == want_state["step"] == len(grads)
    for key in ("exp_avg", "exp_avg_sq"):
        np.testing.assert_array_equal(got_state[key], want_state[key])


@pytest.mark.parametrize("label", ["adam-l2", "adamw"])
def test_blocked_adam_takes_a_non_contiguous_parameter_whole(label):
    start, grads = _problem((6, 5), np.float32, transposed=True)
    assert not start.flags.c_contiguous
    want, _ = _steps(adam.update, start, grads, HYPER[label])
    got, _ = _steps(lambda *a, **h: adam_blocked.update(*a, block_size=7, **h), start, grads, HYPER[label])
    np.testing.assert_array_equal(got, want)


def test_blocked_adam_leaves_the_gradient_alone():
    start, grads = _problem((5, 7), np.float32)
    before = [g.copy() for g in grads]
    _steps(lambda *a, **h: adam_blocked.update(*a, block_size=7, **h), start, grads, HYPER["adam-l2"])
    for g, b in zip(grads, before):
        np.testing.assert_array_equal(g, b)


@pytest.mark.parametrize("cls, kwargs", [(Adam, {"lr": 1e-2}), (Adam, {"lr": 1e-2, "weight_decay": 0.1}),
                                         (AdamW, {"lr": 3e-2, "weight_decay": 0.3})])
def test_adam_in_blocks_changes_no_bit(cls, kwargs, monkeypatch):
    """The optimizer's default host update, in cache-sized blocks (7 parameters here: blocks
    of a matrix row and more, and a short last one), equals the reference's whole-array
    update exactly, step after step, over several parameters; a transposed
    (non-contiguous) parameter is one block."""
    monkeypatch.delenv("MINIDL_IMPL", raising=False)
    monkeypatch.setenv("MINIDL_COMPILED", "0")  # the NumPy path's default, with or without the fast extra
    monkeypatch.setattr(adam_blocked, "BLOCK_SIZE", 7)
    problems = [_problem((3, 4), np.float32, seed=3), _problem((5,), np.float32, seed=4),
                _problem((5, 6), np.float32, transposed=True, seed=5)]
    results = []
    for in_blocks in (True, False):
        params = [Parameter(start.copy(order="K")) for start, _ in problems]
        assert not params[-1].data.flags.c_contiguous and params[0].data.size > 7
        opt = cls(params, **kwargs)
        with contextlib.nullcontext() if in_blocks else ops.reference_only():
            assert (ops.implementation("adam", params[0].data).module is adam_blocked) == in_blocks
            for k in range(len(problems[0][1])):
                for p, (_, grads) in zip(params, problems):
                    p.grad[...] = grads[k]
                opt.step()
        results.append([p.data.copy() for p in params])
    for blocked, whole in zip(*results):
        np.testing.assert_array_equal(blocked, whole)
    assert not np.array_equal(results[0][0], problems[0][0])  # the update did move the parameters


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("label", HYPER)
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_fused_adam_matches_the_reference_on_the_fake_device(fake_device, shape, label, dtype, rtol):
    start, grads = _problem(shape, dtype)
    want, want_state = _steps(adam.update, start, grads, HYPER[label])
    param, state = fake_device.asarray(start), {}
    for g in grads:
        FusedAdam.update(param, fake_device.asarray(g), state, **HYPER[label])
    assert backend.is_device_array(param) and param.dtype == dtype and state["step"] == len(grads)
    np.testing.assert_allclose(backend.to_numpy(param), want, rtol=rtol, atol=rtol)
    for key in ("exp_avg", "exp_avg_sq"):
        np.testing.assert_allclose(backend.to_numpy(state[key]), want_state[key], rtol=rtol, atol=rtol)


def test_optimizers_take_the_registered_implementations(fake_device, monkeypatch):
    """Host: the blocked Adam; device: the fused kernel, but the reference for a
    non-contiguous device parameter (the kernel indexes flat memory) and under
    reference_only(); SGD has only its reference. (The compiled host update of the fast
    extra, preferred to the blocked one, has tests of its own: test_compiled_kernels.)"""
    monkeypatch.delenv("MINIDL_IMPL", raising=False)
    monkeypatch.setenv("MINIDL_COMPILED", "0")
    host = np.ones((3, 4))
    device, transposed = fake_device.asarray(host), fake_device.asarray(np.ones((4, 3))).T
    def chosen(x, op="adam"):  # the table wraps a module as its functions
        impl = ops.implementation(op, x)
        return getattr(impl, "module", impl)

    assert chosen(host) is adam_blocked
    assert chosen(device) is FusedAdam
    assert chosen(transposed) is adam
    assert chosen(device, "sgd") is chosen(host, "sgd") is sgd
    with ops.reference_only():
        assert chosen(host) is adam and chosen(device) is adam


@pytest.mark.parametrize("make", [lambda ps: Adam(ps, lr=1e-2, weight_decay=0.1),
                                  lambda ps: AdamW(ps, lr=3e-2, weight_decay=0.3),
                                  lambda ps: SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2)])
def test_optimizer_steps_on_a_device_match_the_host(fake_device, make):
    start, grads = _problem((4, 6), np.float64, n_steps=3)
    host = Parameter(start.copy())
    device = Parameter(fake_device.asarray(start))
    device_t = Parameter(fake_device.asarray(start.T.copy()).T)  # non-contiguous: the reference on the device
    host_opt, device_opt = make([host]), make([device, device_t])
    for g in grads:
        host.grad[...] = g
        device.grad[...] = fake_device.asarray(g)
        device_t.grad[...] = fake_device.asarray(g)
        host_opt.step()
        device_opt.step()
    np.testing.assert_allclose(backend.to_numpy(device.data), host.data, rtol=1e-12)
    np.testing.assert_allclose(backend.to_numpy(device_t.data), host.data, rtol=1e-12)

"""The ops table as a whole: ``python -m minidl.ops`` lists every op with a short reference,
``--check`` passes, fails when an implementation is wrong, and every fast implementation
(CPU, and the CUDA launchers on the fake device) matches its reference on random shapes."""
import os
import subprocess
import sys
import types

import numpy as np
import pytest

from minidl import backend
from minidl.ops import Case, check, registry
from minidl.ops.__main__ import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAYER_OPS = ["conv2d", "max_pool2d", "avg_pool2d", "global_avg_pool2d", "global_max_pool2d",
             "adaptive_avg_pool2d", "batch_norm", "linear", "relu", "selu", "sigmoid", "dropout", "alpha_dropout",
             "batch_norm_relu", "max_pool2d_batch_norm_relu", "conv2d_relu", "conv2d_selu"]
RANDOM_GEOMETRY = ("conv2d", "conv2d_relu", "conv2d_selu", "max_pool2d", "max_pool2d_batch_norm_relu", "avg_pool2d")


@pytest.fixture
def once(array_namespace):
    """Commands run in a subprocess of their own: once, not again under the strict namespace."""
    if array_namespace == "cupy-names":
        pytest.skip("a subprocess does not see the test's array namespace")


def _run(*args):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", "minidl.ops", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_map_lists_every_op_with_a_reference_of_at_most_60_lines(once):
    out = _run()
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line.split() for line in out.stdout.splitlines()[2:]}
    assert set(LAYER_OPS) <= set(rows)
    for name, row in rows.items():
        assert row[1].startswith(f"minidl/ops/{name}.py:"), row
        assert int(row[2]) <= 60, f"{name}'s reference has {row[2]} lines of code"
    cpu, gpu = [name.rstrip(",") for name in rows["conv2d"][3:-2]], rows["conv2d"][-2]
    assert cpu[-1] == "folded_im2col" and gpu == "cuda_im2col"  # the compiled conv (if any) before the NumPy one


def test_check_passes_on_every_op_and_says_so(once):
    out = _run("--check")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "FAIL" not in out.stdout
    for name in LAYER_OPS:
        assert f"\n{name} " in out.stdout
    assert "folded_im2col" in out.stdout and "halving_2x2" in out.stdout


@pytest.fixture
def broken_relu():
    """A wrong implementation of relu (leaks 1% of the negative side), registered for the test."""
    def forward(x, **_):
        return np.where(x > 0, x, 0.01 * x), x > 0

    def backward(dy, positive, **_):
        return (dy * positive,)

    registry.register("relu", device="cpu", name="leaky_by_mistake", impl=types.SimpleNamespace(
        forward=forward, backward=backward))
    yield
    op = registry.get("relu")
    op.implementations = [i for i in op.implementations if i.name != "leaky_by_mistake"]


def test_check_fails_and_exits_1_for_a_wrong_implementation(broken_relu, capsys, monkeypatch):
    monkeypatch.delenv("MINIDL_IMPL", raising=False)
    assert main(["--check", "--op", "relu"]) == 1
    out = capsys.readouterr().out
    assert "leaky_by_mistake" in out and "FAIL" in out


def test_check_fails_for_a_wrong_gradient_in_a_reference(monkeypatch):
    relu = registry.get("relu").reference.module
    monkeypatch.setattr(relu, "backward", lambda dy, positive, **_: (dy * positive * 1.001,))
    rows = check.check_op(registry.get("relu"))
    assert not rows[0].passed and rows[0].implementation.startswith("reference")


def test_unknown_op_is_an_error_line(once):
    out = _run("--op", "convolution")
    assert out.returncode == 2 and out.stderr.startswith("error: unknown op 'convolution'")


def _random_cases(name, rng, count=6):
    """Random window geometries for conv2d / max_pool2d / avg_pool2d (odd sizes, batch 1 and 2,
    stride, padding), ties for max pooling, no input gradient for some convolutions."""
    cases = []
    for k in range(count):
        kh, kw = rng.integers(1, 4, 2)
        sh, sw = rng.integers(1, 3, 2)
        ph, pw = rng.integers(0, kh // 2 + 1), rng.integers(0, kw // 2 + 1)
        n, c = int(rng.integers(1, 3)), int(rng.integers(1, 4))
        h, w = int(rng.integers(kh, 9)), int(rng.integers(kw, 9))
        hyper = dict(stride=(int(sh), int(sw)), padding=(int(ph), int(pw)))
        label = f"random {k}: x {(n, c, h, w)} kernel {(int(kh), int(kw))} {hyper}"
        if name in ("conv2d", "conv2d_relu", "conv2d_selu"):
            o = int(rng.integers(1, 5))
            cases.append(Case(label, (n, c, h, w), [(o, c, int(kh), int(kw)), (o,) if k % 2 else None],
                              input_grad=bool(k % 3), **hyper))
        elif name == "max_pool2d_batch_norm_relu":  # batch norm's parameters and statistics follow the pooling
            # Training with 2 values per channel normalises them to -1 and 1 whatever they are: dL/dx is
            # exactly 0, and the implementations' round-off would be compared with each other.
            pooled = n * ((h + 2 * ph - kh) // sh + 1) * ((w + 2 * pw - kw) // sw + 1)
            cases.append(Case(label, (n, c, h, w), [(c,), (c,)], buffers=[(c,), (c,)], kernel_size=(int(kh), int(kw)),
                              ties=k % 3 == 0, training=k % 4 != 1 and pooled > 2, **hyper))
        else:
            extra = dict(ties=k % 2 == 0) if name == "max_pool2d" else dict(count_include_pad=k % 2 == 0)
            cases.append(Case(label, (n, c, h, w), kernel_size=(int(kh), int(kw)), **hyper, **extra))
    if name == "max_pool2d":  # the halving path's own shapes, odd sizes and ties included
        cases += [Case(f"2x2 {s}", s, kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), ties=t)
                  for s, t in (((1, 2, 5, 7), True), ((2, 3, 6, 4), False))]
    return cases


@pytest.mark.parametrize("name", LAYER_OPS)
@pytest.mark.parametrize("seed", [0, 1])
def test_every_implementation_matches_its_reference(name, seed):
    """On the device of this pass (the fake device runs the CUDA launchers), random shapes."""
    op = registry.get(name)
    cases = _random_cases(name, np.random.default_rng(seed)) if name in RANDOM_GEOMETRY else op.cases
    device = "gpu" if backend.test_device() else "cpu"
    rows = check.check_op(op, device, cases=cases)
    assert rows and all(r.cases > 0 for r in rows), [(r.implementation, r.cases) for r in rows]
    failures = [f for r in rows for f in r.failures]
    assert not failures, failures


@pytest.mark.parametrize("name", ["conv2d", "max_pool2d", "batch_norm", "relu",
                                  "batch_norm_relu", "max_pool2d_batch_norm_relu", "conv2d_relu", "conv2d_selu"])
def test_cuda_launchers_match_the_reference_on_the_fake_device(name, fake_device):
    rows = check.check_op(registry.get(name), "gpu")
    assert [r.implementation for r in rows][1:] and all(r.passed for r in rows), [r.failures for r in rows]


@pytest.fixture
def toy_loss_and_optimizer():
    """A loss op and an optimizer op declared the way minidl/ops' losses and optimizers are."""
    def mse_forward(logits, targets, **_):
        diff = logits - targets
        return float((diff * diff).mean()), (diff, diff.size)

    def mse_backward(saved, **_):
        diff, size = saved
        return 2 * diff / size

    def sgd_update(param, grad, state, lr=0.1, momentum=0.0, **_):
        buf = state.setdefault("momentum_buffer", np.zeros_like(param))
        buf *= momentum
        buf += grad
        param -= lr * buf

    binary = lambda gen, shape, dtype: (gen.random(shape) < 0.5).astype(dtype)  # noqa: E731
    registry.define("toy_mse", types.SimpleNamespace(forward=mse_forward, backward=mse_backward), kind="loss",
                    cases=[Case("batch 3", (3, 4), targets=binary)])
    registry.define("toy_sgd", types.SimpleNamespace(update=sgd_update), kind="optimizer",
                    cases=[Case("momentum", (5,), momentum=0.9), Case("plain, odd size", (7,))])
    yield mse_backward, sgd_update
    del registry._ops["toy_mse"], registry._ops["toy_sgd"]


def test_losses_and_optimizer_updates_are_checked_too(toy_loss_and_optimizer):
    mse_backward, sgd_update = toy_loss_and_optimizer
    registry.register("toy_mse", device="cpu", name="same", impl=types.SimpleNamespace(
        forward=registry.get("toy_mse").reference.forward, backward=mse_backward))
    registry.register("toy_mse", device="cpu", name="half_gradient", impl=types.SimpleNamespace(
        forward=registry.get("toy_mse").reference.forward, backward=lambda saved, **_: mse_backward(saved) / 2))
    registry.register("toy_sgd", device="cpu", name="same", impl=types.SimpleNamespace(update=sgd_update))
    registry.register("toy_sgd", device="cpu", name="no_momentum", impl=types.SimpleNamespace(
        update=lambda p, g, state, lr=0.1, **_: sgd_update(p, g, state, lr=lr)))
    loss_rows = {r.implementation: r for r in check.check_op(registry.get("toy_mse"))}
    assert loss_rows["reference (gradcheck)"].passed and loss_rows["reference (gradcheck)"].cases == 1
    assert loss_rows["same"].passed and not loss_rows["half_gradient"].passed
    sgd_rows = {r.implementation: r for r in check.check_op(registry.get("toy_sgd"))}
    assert set(sgd_rows) == {"same", "no_momentum"}  # no gradient to check for an update
    assert sgd_rows["same"].passed and sgd_rows["same"].cases == 4
    assert not sgd_rows["no_momentum"].passed and "momentum" in sgd_rows["no_momentum"].failures[0]

"""The gradient checker itself: it must pass correct gradients and catch wrong ones."""
import numpy as np
import pytest

import minidl as md
from minidl import backend, init
from minidl.gradcheck import GradcheckError, check_loss, check_module


class Scale(md.Module):
    """y = tanh(x * w) with a per-feature weight; ``bug`` breaks one gradient."""

    def __init__(self, features, bug=None):
        super().__init__()
        self.weight = md.Parameter(init.uniform((features,), 1.0))
        self.bug = bug

    def forward(self, x):
        xp = backend.get_array_module(x)
        self.x, self.y = x, xp.tanh(x * self.weight.data)
        return self.y

    def backward(self, dy):
        dz = dy * (1 - self.y ** 2)
        dw = (dz * self.x).sum(axis=0)
        if self.bug == "weight":
            dw = dw * 1.001
        self.weight.grad += dw
        dx = dz * self.weight.data
        if self.bug == "input":
            dx = dx.copy()
            dx[0, 1] += 1e-3
        return dx


class SumOfSquares:
    """L = sum(x^2 * t); ``bug`` drops the factor 2."""

    def __init__(self, bug=False):
        self.bug = bug

    def forward(self, logits, targets):
        self.logits, self.targets = logits, targets
        return float((logits ** 2 * targets).sum())

    def backward(self):
        return (1 if self.bug else 2) * self.logits * self.targets


def test_correct_module_passes_elementwise_and_directionally():
    x = np.random.default_rng(0).standard_normal((3, 5))
    report = check_module(Scale(5), x)
    assert [r.mode for r in report.results] == ["elementwise", "elementwise"]
    assert report.max_rel_error < 1e-8
    # Even before the round-off allowance the central differences agree closely.
    assert 0 < report.max_raw_rel_error < 1e-6
    big = np.random.default_rng(1).standard_normal((40, 30))
    report = check_module(Scale(30), big, max_elements=100)
    assert report.results[0].mode == "directions"
    assert report.max_rel_error < 1e-8


@pytest.mark.parametrize("bug, tensor", [("weight", "weight"), ("input", "input")])
def test_wrong_gradient_is_reported_with_its_index(bug, tensor):
    x = np.random.default_rng(0).standard_normal((3, 5))
    with pytest.raises(GradcheckError, match=f"failed for {tensor}") as info:
        check_module(Scale(5, bug=bug), x)
    message = str(info.value)
    assert "analytic" in message and "numerical" in message and "relative error" in message
    if bug == "input":
        assert "(0, 1)" in message


def test_wrong_gradient_is_caught_along_random_directions():
    x = np.random.default_rng(2).standard_normal((40, 30))
    with pytest.raises(GradcheckError, match="directions"):
        check_module(Scale(30, bug="weight"), x, max_elements=10)


def test_upstream_gradient_is_random_not_ones():
    # A module whose output sum is constant (y = x - mean(x)) has a zero
    # gradient for an all-ones upstream; a wrong backward returning zeros must fail.
    class Centre(md.Module):
        def forward(self, x):
            return x - x.mean(axis=1, keepdims=True)

        def backward(self, dy):
            return dy * 0

    with pytest.raises(GradcheckError):
        check_module(Centre(), np.random.default_rng(3).standard_normal((2, 4)))


def test_loss_check_passes_and_fails():
    rng = np.random.default_rng(4)
    logits, targets = rng.standard_normal((4, 3)), rng.random((4, 3))
    assert check_loss(SumOfSquares(), logits, targets).max_rel_error < 1e-8
    with pytest.raises(GradcheckError, match="logits"):
        check_loss(SumOfSquares(bug=True), logits, targets)


def test_module_is_left_in_float64_and_buffers_restored():
    class Counter(Scale):
        def __init__(self):
            super().__init__(3)
            self.register_buffer("calls", np.zeros(1))

        def forward(self, x):
            self.calls = self.calls + 1
            return super().forward(x)

    m = Counter()
    check_module(m, np.ones((2, 3)) * 0.3)
    assert m.weight.data.dtype == np.float64
    assert m.calls[0] == 0


def test_structurally_zero_gradient_passes_within_round_off():
    # A convolution bias before batch norm has a true gradient of exactly 0;
    # its numerical estimate is round-off, which the checker must allow for.
    md.manual_seed(0)
    x = np.random.default_rng(0).standard_normal((3, 1, 6, 6))
    model = md.Sequential(md.Conv2d(1, 4, 3, padding=1), md.BatchNorm2d(4))
    report = check_module(model, x)
    bias = next(r for r in report.results if r.name == "0.bias")
    assert abs(bias.analytic) < 1e-12 and bias.max_rel_error < 1e-6

"""The gradient checker itself: it must pass correct gradients and catch wrong ones."""
import numpy as np
import pytest

import minidl as md
from minidl import backend, init
from minidl.gradcheck import GradcheckError, check_loss, check_module


class Scale(md.Module):
    """y = tanh(x * w) with a per-feature weight; ``bug`` breaks one gradient."""

    def __init__(self, features, bug=None, offset=0.0):
        super().__init__()
        self.weight = md.Parameter(init.uniform((features,), 1.0))
        self.bug = bug
        self.offset = offset  # a constant added to the output: no effect on any gradient

    def forward(self, x):
        xp = backend.get_array_module(x)
        self.x, self.y = x, xp.tanh(x * self.weight.data)
        return self.y + self.offset

    def backward(self, dy):
        dz = dy * (1 - self.y ** 2)
        dw = (dz * self.x).sum(axis=0)
        if self.bug == "weight":
            dw = dw * 1.001
        if self.bug == "weight 1%":
            dw = dw * 1.01
        if self.bug == "assign":  # overwrites instead of accumulating
            self.weight.grad[...] = dw
        elif self.bug == "grad shape":  # replaces the (F,) gradient by a (1, F) one
            self.weight.grad = self.weight.grad + dw[None]
        else:
            self.weight.grad += dw
        dx = dz * self.weight.data
        if self.bug == "input":
            dx = dx.copy()
            dx[0, 1] += 1e-3
        if self.bug == "dx shape":  # (1, F) -> (F,): broadcasts back silently
            dx = dx.reshape(-1)
        if self.bug == "in place":  # reuses dy's memory for dz, a tempting optimisation
            dy *= 1 - self.y ** 2
            dx = dy * self.weight.data
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
    assert bias.status == "zero within round-off"
    assert all(r.status == "resolved" for r in report.results if r.name != "0.bias")


# --- the backward contract ---------------------------------------------------------

def test_backward_that_overwrites_its_upstream_gradient_fails():
    # The numerical check alone cannot see it: dx is right for the dy it was given.
    x = np.random.default_rng(5).standard_normal((3, 4))
    with pytest.raises(GradcheckError, match="failed for upstream: backward modified its upstream "
                                             "gradient dy in place"):
        check_module(Scale(4, bug="in place"), x)


@pytest.mark.parametrize("bug, shape, message", [
    ("dx shape", (1, 4), r"failed for input: backward returned dx of shape \(4,\), but x has shape \(1, 4\)"),
    ("grad shape", (2, 4), r"failed for weight: gradient of shape \(1, 4\) for a parameter of shape \(4,\)"),
    # One backward from zero_grad gives the right gradient; the second one gives it again
    # instead of twice it, which would lose a shared parameter's or a second batch's share.
    ("assign", (3, 4), r"failed for weight: two backward passes without zero_grad left 1 times the gradient "
                       r"of one, expected 2"),
], ids=["dx of the wrong shape", "parameter gradient of the wrong shape", "assigns instead of accumulating"])
def test_backward_contract_violations_fail(bug, shape, message):
    x = np.random.default_rng(6).standard_normal(shape)
    with pytest.raises(GradcheckError, match=message):
        check_module(Scale(4, bug=bug), x)


def test_module_that_changes_its_input_fails():
    class Doubler(md.Module):
        def forward(self, x):
            x *= 2
            return x.copy()

        def backward(self, dy):
            return 2 * dy

    with pytest.raises(GradcheckError, match="modified the input x in place"):
        check_module(Doubler(), np.ones((2, 3)))


def test_loss_gradient_of_the_wrong_shape_fails():
    class Flat(SumOfSquares):
        def backward(self):
            return super().backward().reshape(-1)

    rng = np.random.default_rng(4)
    with pytest.raises(GradcheckError, match=r"failed for logits: backward returned a gradient of shape \(3,\)"):
        check_loss(Flat(), rng.standard_normal((1, 3)), rng.random((1, 3)))


# --- the round-off allowance is bounded ----------------------------------------------

def test_a_one_percent_error_under_a_large_offset_is_unresolved_not_passed():
    # y + 1e9: r = u sum|y g| / eps is about 1, far above the gradients (about 1).
    # Without the bound the allowance swallows the 1% error and reports 0.
    x = np.random.default_rng(8).standard_normal((3, 5))
    with pytest.raises(GradcheckError, match=r"failed for weight \(elementwise\): unresolved, the round-off "
                                             r"allowance .* exceeds tol x largest \|numerical gradient\|"):
        check_module(Scale(5, bug="weight 1%", offset=1e9), x)
    report = check_module(Scale(5, offset=1e9), x, raise_on_failure=False)  # even a right one
    assert not report.passed and report.max_rel_error == np.inf
    assert {r.status for r in report.results} == {"unresolved"}
    # The same error without the offset is measured, not excused.
    with pytest.raises(GradcheckError, match=r"failed for weight \(elementwise\) at index .* relative error 9"):
        check_module(Scale(5, bug="weight 1%"), x)


def test_a_check_whose_gradients_are_all_zero_fails():
    class Constant(SumOfSquares):
        def forward(self, logits, targets):
            super().forward(logits, targets)
            return 1.0

        def backward(self):
            return 0 * self.logits

    rng = np.random.default_rng(4)
    with pytest.raises(GradcheckError, match="every gradient of the check is zero.*tests nothing"):
        check_loss(Constant(), rng.standard_normal((2, 3)), rng.random((2, 3)))


def test_failure_message_lists_every_failure_then_the_report():
    x = np.random.default_rng(5).standard_normal((1, 4))

    class TwoBugs(Scale):
        def backward(self, dy):
            dx = super().backward(dy)
            dy[...] = 0
            return dx

    with pytest.raises(GradcheckError) as info:
        check_module(TwoBugs(4, bug="weight"), x)
    lines = str(info.value).splitlines()
    assert lines[0].startswith("gradient check (eps=1e-05, tol=1e-06, round-off allowance")
    assert lines[0].endswith("2 failure(s)")
    assert lines[1].startswith("failed for upstream: backward modified")
    assert lines[2].startswith("failed for weight (elementwise) at index (")
    assert any(line.startswith("input ") for line in lines[3:])
    report = check_module(TwoBugs(4, bug="weight"), x, raise_on_failure=False)
    assert not report.passed and [name for name, _ in report.problems] == ["upstream"]

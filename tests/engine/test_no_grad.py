"""``no_grad``: forward passes keep nothing for backward, give the same outputs,
and a backward after one raises instead of reusing stale state."""
import numpy as np
import pytest

import minidl as md
from minidl import backend


def _network():
    md.manual_seed(0)
    return md.Sequential(
        md.Conv2d(3, 4, 3, padding=1), md.BatchNorm2d(4), md.ReLU(), md.MaxPool2d(2),
        md.Concat(md.Sequential(md.Conv2d(4, 2, 1), md.SELU()), md.Sequential(md.Conv2d(4, 3, 3, padding=1), md.Sigmoid())),
        md.AvgPool2d(2), md.Dropout(0.3), md.GlobalAvgPool2d(), md.Linear(5, 5),
    )


def _kept(model):
    return [name for name, m in model.named_modules() if m._saved is not None]


def test_no_grad_keeps_nothing_and_gives_the_same_output():
    model = _network().eval()
    x = backend.xp().asarray(np.random.default_rng(0).normal(size=(2, 3, 8, 8)).astype(np.float32))
    with md.no_grad():
        assert not md.is_grad_enabled()
        y_inference = model(x)
    assert md.is_grad_enabled()
    assert _kept(model) == []
    y_training = model(x)
    np.testing.assert_array_equal(backend.to_numpy(y_inference), backend.to_numpy(y_training))
    assert "0" in _kept(model) and "8" in _kept(model)  # conv and linear keep their inputs again


def test_backward_after_no_grad_forward_raises():
    model = _network()
    x = backend.xp().asarray(np.random.default_rng(1).normal(size=(2, 3, 8, 8)).astype(np.float32))
    model(x)
    with md.no_grad():
        y = model(x)  # must also drop what the earlier forward kept
    with pytest.raises(RuntimeError, match="Linear.backward has nothing to go back through"):
        model.backward(backend.xp().ones_like(y))


def test_backward_before_any_forward_raises():
    with pytest.raises(RuntimeError, match="ReLU.backward has nothing"):
        md.ReLU().backward(backend.xp().ones((2, 3), dtype=np.float32))


def test_no_grad_restores_the_mode_on_error():
    with pytest.raises(ZeroDivisionError):
        with md.no_grad():
            1 / 0
    assert md.is_grad_enabled()

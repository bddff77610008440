"""Dropout and AlphaDropout: mask statistics, moment preservation, fixed-mask gradient checks."""
import numpy as np
import pytest

import minidl as md
from minidl.gradcheck import check_module
from minidl.layers.dropout import AlphaDropout, Dropout

SATURATION = -1.0507009873554805 * 1.6732632423543772  # SELU's value for x -> -inf


def test_dropout_drops_at_rate_p_and_rescales_the_rest():
    md.manual_seed(10)  # a different seed from x's: the same stream would correlate mask and x
    x = np.random.default_rng(0).uniform(1, 2, 200_000)
    layer = Dropout(0.3)
    y = layer(x)
    kept = y != 0
    assert abs(1 - kept.mean() - 0.3) < 0.005  # binomial std is 0.001
    np.testing.assert_allclose(y[kept], x[kept] / 0.7, rtol=1e-12)
    assert abs(y.mean() - x.mean()) < 0.01  # inverted dropout keeps the expectation
    dy = np.random.default_rng(1).standard_normal(x.shape)
    np.testing.assert_allclose(layer.backward(dy), np.where(kept, dy / 0.7, 0), rtol=1e-12)


def test_alpha_dropout_keeps_zero_mean_and_unit_variance():
    md.manual_seed(11)
    x = np.random.default_rng(2).standard_normal(400_000)
    layer = AlphaDropout(0.2)
    y = layer(x)
    assert abs(y.mean()) < 0.01 and abs(y.var() - 1) < 0.01
    # Dropped units all take one value, a*saturation + b; there are about p of them.
    q = 0.8
    a = (q + SATURATION ** 2 * q * (1 - q)) ** -0.5
    dropped = np.isclose(y, a * SATURATION - a * (1 - q) * SATURATION, rtol=0, atol=1e-12)
    assert abs(dropped.mean() - 0.2) < 0.005
    dy = np.ones_like(x)
    np.testing.assert_allclose(layer.backward(dy), np.where(dropped, 0, a), rtol=1e-12)


def test_alpha_dropout_constants_match_torch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    values = torch.nn.functional.alpha_dropout(torch.ones(10_000, dtype=torch.float64), 0.35, True)
    md.manual_seed(0)
    ours = AlphaDropout(0.35)(np.ones(10_000))
    np.testing.assert_allclose(np.unique(ours), np.unique(values.numpy()), rtol=1e-12)


@pytest.mark.parametrize("cls", [Dropout, AlphaDropout])
def test_eval_mode_and_p_zero_are_the_identity(cls):
    x = np.random.default_rng(3).standard_normal((3, 4))
    dy = np.random.default_rng(4).standard_normal((3, 4))
    for layer in (cls(0.5).eval(), cls(0.0)):
        np.testing.assert_array_equal(layer(x), x)
        np.testing.assert_array_equal(layer.backward(dy), dy)


@pytest.mark.parametrize("cls", [Dropout, AlphaDropout])
@pytest.mark.parametrize("training", [True, False])
def test_gradcheck(cls, training):
    x = np.random.default_rng(5).standard_normal((2, 5, 7))
    report = check_module(cls(0.4).train(training), x, tol=1e-6)
    assert report.results[0].name == "input"


@pytest.mark.parametrize("cls", [Dropout, AlphaDropout])
def test_masks_follow_the_seed_and_keep_float32(cls):
    x = np.ones((50, 20), dtype=np.float32)
    md.manual_seed(7)
    first = cls(0.5)(x)
    md.manual_seed(7)
    again = cls(0.5)(x)
    second = cls(0.5)(x)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, second)
    assert first.dtype == np.float32


@pytest.mark.parametrize("cls", [Dropout, AlphaDropout])
@pytest.mark.parametrize("p", [-0.1, 1.0, 2])
def test_invalid_p_is_rejected(cls, p):
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
        cls(p)

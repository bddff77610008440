"""CrossEntropyLoss: forward against the definition (and PyTorch), large logits by hand,
backward by gradient check, and its argument checks."""
import math
import warnings

import numpy as np
import pytest

from minidl.gradcheck import check_loss
from minidl.losses import CrossEntropyLoss


def ce_data(n, c, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 2, (n, c)), rng.integers(0, c, n)


@pytest.mark.parametrize("weighted", [False, True])
def test_ce_forward_matches_the_definition(weighted):
    x, t = ce_data(8, 5, seed=10)
    w = np.array([1.0, 2.0, 0.5, 3.0, 1.5]) if weighted else np.ones(5)
    log_s = np.log(np.exp(x) / np.exp(x).sum(1, keepdims=True))
    expected = -np.sum(w[t] * log_s[np.arange(8), t]) / np.sum(w[t])
    loss = CrossEntropyLoss(weight=w if weighted else None)
    assert loss(x, t) == pytest.approx(expected, rel=1e-12)


def test_ce_large_logits_by_hand():
    """No PyTorch needed. Row 0 picks class 2 at 0 against a top logit of 1e4: loss 1e4.
    Row 1 picks the top logit e4 + 1 against one at 1e4 (the rest is below e^-1e4):
    loss log(1 + e^-1). The mean is 5000.1566308..., and the gradient is
    (softmax - one-hot) / 2 with softmax rows (1, 0, 0, 0) and (σ(1), σ(-1), 0, 0).
    Without the max shift, exp(1e4) overflows."""
    x = np.array([[1e4, -1e4, 0.0, 5e3], [1e4 + 1, 1e4, -1e4, 0.0]])
    t = np.array([2, 0])
    loss = CrossEntropyLoss()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = loss(x, t)
        grad = loss.backward()
    assert value == pytest.approx((1e4 + math.log1p(math.exp(-1))) / 2, rel=1e-15)
    assert value == pytest.approx(5000.15663084, abs=1e-8)
    s1 = 1 / (1 + math.exp(-1))
    np.testing.assert_allclose(grad, [[0.5, 0, -0.5, 0], [(s1 - 1) / 2, (1 - s1) / 2, 0, 0]],
                               rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("weighted", [False, True])
def test_ce_matches_torch(weighted):
    torch = pytest.importorskip("torch")
    x, t = ce_data(6, 4, seed=11)
    x[0] = [1e4, -1e4, 0, 5e3]  # a huge row: log-softmax must not overflow
    w = np.array([0.3, 2.0, 1.0, 4.0]) if weighted else None
    tx = torch.tensor(x, requires_grad=True)
    ref = torch.nn.CrossEntropyLoss(weight=None if w is None else torch.tensor(w))(tx, torch.tensor(t))
    ref.backward()
    loss = CrossEntropyLoss(weight=w)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert loss(x, t) == pytest.approx(ref.item(), rel=1e-12)
        np.testing.assert_allclose(loss.backward(), tx.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("weighted, shape", [(False, (1, 5)), (False, (6, 4)), (True, (7, 3))])
def test_ce_gradcheck_with_float_valued_targets(weighted, shape):
    x, t = ce_data(*shape, seed=12)
    w = np.linspace(0.5, 2.0, shape[1]) if weighted else None
    check_loss(CrossEntropyLoss(weight=w), x, t.astype(np.float64))


def test_ce_keeps_float32():
    x, t = ce_data(4, 3, seed=13)
    loss = CrossEntropyLoss(weight=np.ones(3))
    loss(x.astype(np.float32), t)
    assert loss.backward().dtype == np.float32


def test_ce_rejects_bad_targets():
    x, t = ce_data(4, 3)
    loss = CrossEntropyLoss()
    with pytest.raises(ValueError, match="whole-number class indices"):
        loss(x, np.array([0, 1, 2, 3]))
    with pytest.raises(ValueError, match="whole-number class indices"):
        loss(x, np.array([0, 1.5, 2, 1]))
    with pytest.raises(ValueError, match=r"expected \(4,\)"):
        loss(x, np.eye(3)[t])
    with pytest.raises(ValueError, match="weight has shape"):
        CrossEntropyLoss(weight=np.ones(4))(x, t)
    with pytest.raises(ValueError, match="batch, classes"):
        loss(x[0], t[:1])

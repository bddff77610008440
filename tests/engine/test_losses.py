"""Sigmoid losses: forward against direct formulas (and PyTorch), backward by gradient check.
CrossEntropyLoss has its own file, test_cross_entropy.py."""
import math
import warnings

import numpy as np
import pytest

from minidl.gradcheck import check_loss
from minidl.losses import BCEWithLogitsLoss, FocalLoss, SoftF1Loss


def data(n, c, seed=0, soft=False):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2, (n, c))
    targets = rng.random((n, c)) if soft else (rng.random((n, c)) < 0.4).astype(np.float64)
    return logits, targets


def naive_sigmoid(x):
    return 1 / (1 + np.exp(-x))


# --- BCEWithLogitsLoss ----------------------------------------------------------

@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_bce_forward_matches_the_definition(reduction):
    x, y = data(6, 4)
    w = np.array([0.5, 1.0, 2.0, 3.0])
    pw = np.array([1.0, 4.0, 0.5, 2.0])
    p = naive_sigmoid(x)
    elements = -w * (pw * y * np.log(p) + (1 - y) * np.log(1 - p))
    expected = elements.mean() if reduction == "mean" else elements.sum()
    loss = BCEWithLogitsLoss(weight=w, pos_weight=pw, reduction=reduction)
    assert loss(x, y) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(1, 5), (8, 3)])
def test_bce_gradcheck(shape, weighted):
    x, y = data(*shape, seed=1, soft=weighted)
    c = shape[1]
    kw = dict(weight=np.linspace(0.5, 2, c), pos_weight=np.linspace(3, 0.2, c)) if weighted else {}
    check_loss(BCEWithLogitsLoss(**kw), x, y)


def test_bce_matches_torch_forward_and_backward():
    torch = pytest.importorskip("torch")
    x, y = data(5, 7, seed=2, soft=True)
    w = np.linspace(0.2, 1.5, 7)
    pw = np.linspace(0.5, 6.0, 7)
    for reduction in ("mean", "sum"):
        tx = torch.tensor(x, requires_grad=True)
        ref = torch.nn.BCEWithLogitsLoss(weight=torch.tensor(w), pos_weight=torch.tensor(pw),
                                         reduction=reduction)(tx, torch.tensor(y))
        ref.backward()
        loss = BCEWithLogitsLoss(weight=w, pos_weight=pw, reduction=reduction)
        assert loss(x, y) == pytest.approx(ref.item(), rel=1e-12)
        np.testing.assert_allclose(loss.backward(), tx.grad.numpy(), rtol=1e-12, atol=1e-15)


EXTREME_X = [[1e4, -1e4, 1e4, -1e4, 30.0, -30.0]]
EXTREME_Y = [[1, 0, 0, 1, 0, 1]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_extreme_logits_cost_their_size_by_hand(dtype):
    """No PyTorch needed. Confidently right costs 0 (log σ(1e4) = 0); confidently wrong
    costs |x|, times pos_weight = 2 for a positive: -log σ(-1e4) = 1e4. At ±30,
    -log σ(-30) = 30 + log(1 + e^-30). The gradient (1 - y) σ(x) - p y σ(-x) is
    0, 0, 1, -2, σ(30), -2 σ(30). A log of a plain sigmoid gives log(0) = -inf here."""
    x, y = np.array(EXTREME_X, dtype=dtype), np.array(EXTREME_Y, dtype=dtype)
    loss = BCEWithLogitsLoss(pos_weight=np.full(6, 2.0), reduction="sum")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = loss(x, y)
        grad = loss.backward()
    wrong_30 = 30 + math.log1p(math.exp(-30))
    assert value == pytest.approx(1e4 + 2 * 1e4 + wrong_30 + 2 * wrong_30, rel=1e-12 if dtype == np.float64 else 1e-6)
    sigma_30 = 1 / (1 + math.exp(-30))
    assert grad.dtype == dtype
    np.testing.assert_allclose(grad, [[0, 0, 1, -2, sigma_30, -2 * sigma_30]], rtol=1e-6, atol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_extreme_logits_match_torch(dtype):
    torch = pytest.importorskip("torch")
    x, y = np.array(EXTREME_X, dtype=dtype), np.array(EXTREME_Y, dtype=dtype)
    pw = np.full(6, 2.0, dtype=dtype)
    loss = BCEWithLogitsLoss(pos_weight=pw, reduction="sum")
    value = loss(x, y)
    grad = loss.backward()
    tx = torch.tensor(x, requires_grad=True)
    ref = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pw), reduction="sum")(tx, torch.tensor(y))
    ref.backward()
    assert value == pytest.approx(ref.item(), rel=1e-6)
    np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_bce_weights_follow_the_logits_dtype():
    x, y = data(3, 4, seed=3)
    loss = BCEWithLogitsLoss(weight=np.ones(4), pos_weight=np.full(4, 2.0))
    value32 = loss(x.astype(np.float32), y)
    assert loss.backward().dtype == np.float32
    value64 = loss(x, y)
    assert loss.backward().dtype == np.float64
    assert value32 == pytest.approx(value64, rel=1e-6)


def test_bce_rejects_bad_arguments():
    x, y = data(3, 4)
    with pytest.raises(ValueError, match="targets has shape"):
        BCEWithLogitsLoss()(x, y[:, :3])
    with pytest.raises(ValueError, match="weight has shape"):
        BCEWithLogitsLoss(weight=np.ones(3))(x, y)
    with pytest.raises(ValueError, match="pos_weight has shape"):
        BCEWithLogitsLoss(pos_weight=np.ones((3, 4)))(x, y)
    with pytest.raises(ValueError, match="reduction"):
        BCEWithLogitsLoss(reduction="none")
    with pytest.raises(RuntimeError, match="before forward"):
        BCEWithLogitsLoss().backward()


# --- FocalLoss ------------------------------------------------------------------

@pytest.mark.parametrize("gamma, alpha", [(2.0, None), (2.0, 0.25), (0.5, 0.75)])
def test_focal_forward_matches_the_paper(gamma, alpha):
    x, y = data(6, 5, seed=4)
    p = naive_sigmoid(x)
    p_t = np.where(y == 1, p, 1 - p)
    alpha_t = 1.0 if alpha is None else np.where(y == 1, alpha, 1 - alpha)
    expected = np.mean(-alpha_t * (1 - p_t) ** gamma * np.log(p_t))
    assert FocalLoss(gamma, alpha)(x, y) == pytest.approx(expected, rel=1e-12)


def test_focal_matches_a_torch_formula():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, y = data(7, 4, seed=5, soft=True)
    gamma, alpha = 1.5, 0.3
    tx, ty = torch.tensor(x, requires_grad=True), torch.tensor(y)
    p = torch.sigmoid(tx)
    ce = F.binary_cross_entropy_with_logits(tx, ty, reduction="none")
    p_t = p * ty + (1 - p) * (1 - ty)
    ref = (((alpha * ty + (1 - alpha) * (1 - ty)) * (1 - p_t) ** gamma) * ce).mean()
    ref.backward()
    loss = FocalLoss(gamma, alpha)
    assert loss(x, y) == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(loss.backward(), tx.grad.numpy(), rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("gamma, alpha, shape", [(2.0, None, (1, 6)), (2.0, 0.25, (6, 4)),
                                                 (0.5, 0.6, (5, 3)), (0.0, None, (4, 4))])
def test_focal_gradcheck(gamma, alpha, shape):
    x, y = data(*shape, seed=6)
    check_loss(FocalLoss(gamma, alpha), x, y)


def test_focal_with_gamma_0_is_bce():
    x, y = data(4, 5, seed=7, soft=True)
    focal, bce = FocalLoss(gamma=0), BCEWithLogitsLoss()
    assert focal(x, y) == pytest.approx(bce(x, y), rel=1e-12)
    np.testing.assert_allclose(focal.backward(), bce.backward(), rtol=1e-12)


@pytest.mark.parametrize("gamma", [2.0, 0.5])
def test_focal_extreme_logits(gamma):
    x = np.array([[1e4, -1e4, 1e4, -1e4]], dtype=np.float32)
    y = np.array([[1, 0, 0, 1]], dtype=np.float32)
    loss = FocalLoss(gamma)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = loss(x, y)
        grad = loss.backward()
    # Right answers cost 0; wrong ones have p_t = 0, so (1 - p_t)^γ = 1 and cost |x|.
    assert value == pytest.approx(2 * 1e4 / 4, rel=1e-6)
    np.testing.assert_allclose(grad, [[0, 0, 0.25, -0.25]], atol=1e-7)
    assert grad.dtype == np.float32


def test_focal_rejects_bad_arguments():
    with pytest.raises(ValueError, match="gamma"):
        FocalLoss(gamma=-1)
    with pytest.raises(ValueError, match="alpha"):
        FocalLoss(alpha=1.5)
    x, y = data(2, 3)
    with pytest.raises(ValueError, match="targets has shape"):
        FocalLoss()(x, y.T)


# --- SoftF1Loss -----------------------------------------------------------------

def test_soft_f1_forward_matches_the_definition():
    x, y = data(9, 4, seed=8)
    p = naive_sigmoid(x)
    tp = (p * y).sum(0)
    fp = (p * (1 - y)).sum(0)
    fn = ((1 - p) * y).sum(0)
    expected = 1 - np.mean(2 * tp / (2 * tp + fp + fn + 1e-7))
    assert SoftF1Loss(eps=1e-7)(x, y) == pytest.approx(expected, rel=1e-12)


def test_soft_f1_of_confident_predictions():
    y = np.array([[1, 0, 1], [0, 1, 1], [1, 0, 0]], dtype=np.float64)
    right = SoftF1Loss()(np.where(y == 1, 50.0, -50.0), y)
    wrong = SoftF1Loss()(np.where(y == 1, -50.0, 50.0), y)
    assert right == pytest.approx(0, abs=1e-6)
    assert wrong == pytest.approx(1, abs=1e-12)


@pytest.mark.parametrize("shape", [(1, 4), (7, 3)])
def test_soft_f1_gradcheck(shape):
    x, y = data(*shape, seed=9)
    # A class with no positive in the batch has tp = 0, so F1 = 0 whatever its logits:
    # with every target 0 (what seed 9 draws for one row) the loss is constant and the
    # check would compare zeros with zeros. Make half the classes positive in row 0.
    y[0] = np.arange(shape[1]) % 2
    check_loss(SoftF1Loss(eps=1e-3), x, y)


def test_soft_f1_rejects_bad_arguments():
    with pytest.raises(ValueError, match="eps"):
        SoftF1Loss(eps=0)
    with pytest.raises(ValueError, match="batch, classes"):
        SoftF1Loss()(np.zeros(4), np.zeros(4))


# --- common contract ------------------------------------------------------------

@pytest.mark.parametrize("make", [BCEWithLogitsLoss, FocalLoss, SoftF1Loss])
def test_float32_gradients_stay_accurate_for_confident_logits(make):
    # 1 - σ(x) rounds to 0 in float32 for x > 17; the tiny gradients of
    # well-classified elements must keep their relative precision instead.
    x = np.array([[18.0, -18.0, 15.0], [-16.0, 17.0, -19.0]])
    y = (x > 0).astype(np.float64)
    loss = make()
    loss(x, y)
    exact = loss.backward()
    loss(x.astype(np.float32), y)
    np.testing.assert_allclose(loss.backward(), exact, rtol=1e-4, atol=0)


@pytest.mark.parametrize("make", [BCEWithLogitsLoss, FocalLoss, SoftF1Loss])
def test_sigmoid_losses_keep_shape_and_float32(make):
    x, y = data(5, 3, seed=14)
    loss = make()
    value = loss(x.astype(np.float32), y.astype(np.uint8))
    grad = loss.backward()
    assert isinstance(value, float)
    assert grad.shape == x.shape and grad.dtype == np.float32

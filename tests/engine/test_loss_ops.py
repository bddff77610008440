"""The loss ops: gradient checks of the references (minidl/ops), the fused GPU BCE
against its reference on the fake device, and the Loss base class's contract."""
import ast
import pathlib

import numpy as np
import pytest

import minidl
from minidl import backend, ops
from minidl.gradcheck import check_module
from minidl.kernels.device_training import FusedBCEWithLogits
from minidl.losses import BCEWithLogitsLoss, CrossEntropyLoss, FocalLoss, SoftF1Loss
from minidl.module import Module
from minidl.ops import bce_with_logits, cross_entropy, focal, soft_f1


class LossOp(Module):
    """A loss op's reference as a Module whose output is the loss (a 0-d array), so that
    ``check_module`` checks it against a random upstream gradient. Targets and array
    hyper-parameters are buffers: they follow the module to the fake device."""

    def __init__(self, op, targets, **hyper):
        super().__init__()
        self.op = op
        self.register_buffer("targets", targets)
        self.array_names = [k for k, v in hyper.items() if hasattr(v, "shape")]
        for name in self.array_names:
            self.register_buffer(name, hyper[name])
        self.scalars = {k: v for k, v in hyper.items() if k not in self.array_names}

    def forward(self, x):
        hyper = {**self.scalars, **{k: self._buffers[k] for k in self.array_names}}
        loss, saved = self.op.forward(x, self._buffers["targets"], **hyper)
        self.save_for_backward(saved, hyper)
        return backend.get_array_module(x).asarray(loss, dtype=x.dtype)

    def backward(self, dy):
        saved, hyper = self.saved()
        return self.op.backward(saved, **hyper) * dy


def _logits(shape, seed):
    return np.random.default_rng(seed).normal(0, 2, shape)


def _binary(shape, seed):
    return (np.random.default_rng(seed + 100).random(shape) < 0.4).astype(np.float64)


def _soft(shape, seed):
    return np.random.default_rng(seed + 200).random(shape)


BCE_CASES = {  # label: (shape, targets, hyper)
    "plain": ((4, 5), _binary, {}),
    "batch1-sum": ((1, 6), _binary, dict(reduction="sum")),
    "class-weight+pos-weight": ((5, 4), _soft, dict(weight=np.linspace(0.5, 2, 4), pos_weight=np.linspace(3, 0.2, 4))),
    "element-weight-sum": ((3, 4), _binary, dict(weight=np.linspace(0.2, 2, 12).reshape(3, 4), reduction="sum")),
    "3d-logits": ((2, 3, 4), _soft, dict(pos_weight=np.full(4, 2.0))),
}


@pytest.mark.parametrize("label", BCE_CASES)
def test_bce_reference_gradcheck(label):
    shape, targets, hyper = BCE_CASES[label]
    check_module(LossOp(bce_with_logits, targets(shape, 1), **hyper), _logits(shape, 1))


@pytest.mark.parametrize("shape, gamma, alpha", [((4, 5), 2.0, None), ((1, 6), 2.0, 0.25),
                                                 ((5, 3), 0.5, 0.6), ((3, 4), 0.0, None)])
def test_focal_reference_gradcheck(shape, gamma, alpha):
    check_module(LossOp(focal, _soft(shape, 2), gamma=gamma, alpha=alpha), _logits(shape, 2))


@pytest.mark.parametrize("shape", [(1, 4), (7, 3)])
def test_soft_f1_reference_gradcheck(shape):
    # Soft targets: every class has positive mass, so no class's F1 is a constant 0.
    check_module(LossOp(soft_f1, _soft(shape, 3), eps=1e-3), _logits(shape, 3))


@pytest.mark.parametrize("shape, weighted", [((1, 5), False), ((6, 4), False), ((7, 3), True)])
def test_cross_entropy_reference_gradcheck(shape, weighted):
    targets = np.random.default_rng(4).integers(0, shape[1], shape[0])
    hyper = dict(weight=np.linspace(0.5, 2.0, shape[1])) if weighted else {}
    check_module(LossOp(cross_entropy, targets, **hyper), _logits(shape, 4))


# --- the fused GPU BCE (bce.cu through its launcher) against the reference --------------

FUSED_CASES = [  # (shape, weight kind, pos_weight, reduction)
    ((5, 7), None, False, "mean"),
    ((1, 6), None, True, "sum"),
    ((4, 5), "class", True, "mean"),
    ((3, 4), "element", False, "sum"),
    ((3, 4), "element", True, "mean"),
    ((2, 3, 4), "class", True, "mean"),
]


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("case", FUSED_CASES, ids=lambda c: f"{c[0]}-{c[1]}-pos{c[2]}-{c[3]}")
def test_fused_bce_matches_its_reference_on_the_fake_device(fake_device, case, dtype, rtol):
    shape, weight_kind, with_pos, reduction = case
    rng = np.random.default_rng(5)
    x = (rng.normal(0, 4, shape)).astype(dtype)
    x.flat[0], x.flat[-1] = 40.0, -40.0  # confident elements: the float32 tails must stay exact
    y = (rng.random(shape) < 0.4).astype(dtype)
    weight = {None: None, "class": rng.uniform(0.5, 2, shape[-1]), "element": rng.uniform(0.5, 2, shape)}[weight_kind]
    hyper = dict(weight=None if weight is None else weight.astype(dtype), reduction=reduction,
                 pos_weight=rng.uniform(0.5, 3, shape[-1]).astype(dtype) if with_pos else None)
    loss_ref, saved = bce_with_logits.forward(x, y, **hyper)
    grad_ref = bce_with_logits.backward(saved, **hyper)
    put = fake_device.asarray
    device_hyper = {k: put(v) if hasattr(v, "shape") else v for k, v in hyper.items()}
    loss, saved = FusedBCEWithLogits.forward(put(x), put(y), **device_hyper)
    grad = FusedBCEWithLogits.backward(saved, **device_hyper)
    assert backend.is_device_array(loss) and loss.shape == ()  # kept on the device: no synchronisation
    assert float(loss) == pytest.approx(loss_ref, rel=rtol)
    assert grad.dtype == dtype and grad.shape == shape
    np.testing.assert_allclose(backend.to_numpy(grad), grad_ref, rtol=rtol, atol=0)


def test_bce_loss_runs_the_fused_kernel_on_the_device_and_the_reference_when_asked(fake_device, monkeypatch):
    monkeypatch.delenv("MINIDL_IMPL", raising=False)
    rng = np.random.default_rng(6)
    x, y = rng.normal(0, 3, (4, 5)), (rng.random((4, 5)) < 0.5).astype(np.float64)
    loss = BCEWithLogitsLoss(weight=np.linspace(0.5, 1.5, 5), pos_weight=np.full(5, 2.0))
    fused = loss(fake_device.asarray(x), fake_device.asarray(y)), loss.backward()
    assert loss._cache[0] is FusedBCEWithLogits  # the implementation it ran, kept for backward
    with ops.reference_only():
        reference = loss(fake_device.asarray(x), fake_device.asarray(y)), loss.backward()
    assert loss._cache[0].module is bce_with_logits  # the table wraps a module as its functions
    assert backend.is_device_array(fused[1]) and backend.is_device_array(reference[1])
    assert fused[0] == pytest.approx(reference[0], rel=1e-12)
    np.testing.assert_allclose(backend.to_numpy(fused[1]), backend.to_numpy(reference[1]), rtol=1e-12)


# --- the Loss base class ------------------------------------------------------------

@pytest.mark.parametrize("make", [BCEWithLogitsLoss, FocalLoss, SoftF1Loss, CrossEntropyLoss])
def test_every_loss_refuses_backward_before_forward(make):
    with pytest.raises(RuntimeError, match=f"{make.__name__}.backward called before forward"):
        make().backward()


@pytest.mark.parametrize("make, op", [(BCEWithLogitsLoss, bce_with_logits), (FocalLoss, focal),
                                      (SoftF1Loss, soft_f1), (CrossEntropyLoss, cross_entropy)])
def test_each_loss_is_its_op_reference_bit_for_bit(make, op):
    """On the host the losses run their reference: the class adds no arithmetic."""
    x = _logits((5, 4), 7)
    if make is CrossEntropyLoss:
        targets = np.random.default_rng(7).integers(0, 4, 5)
    else:
        targets = _soft((5, 4), 7)
    loss = make()
    value, grad = loss(x, targets), loss.backward()
    expected, saved = op.forward(x, targets, **loss.hyper(x))
    assert value == expected
    np.testing.assert_array_equal(grad, op.backward(saved, **loss.hyper(x)))


ROOT = pathlib.Path(minidl.__file__).parent


def _imports(path):
    tree = ast.parse(path.read_text())
    return {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module} | \
        {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}


def test_losses_and_optimizers_never_test_the_device_and_kernels_never_import_them():
    for package in ("losses", "optim"):
        for path in sorted((ROOT / package).glob("*.py")):
            assert "is_device_array" not in path.read_text(), f"{path.name} tests the device itself"
    imported = _imports(ROOT / "kernels" / "device_training.py")
    assert not {m for m in imported if m.startswith(("minidl.losses", "minidl.optim"))}, imported

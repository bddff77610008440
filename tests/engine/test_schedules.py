"""Learning-rate schedules: hand cases, PyTorch's sequences, exact resume."""
import math

import numpy as np
import pytest

from minidl import Parameter
from minidl.optim import SGD, CosineAnnealingLR, ReduceLROnPlateau, StepLR

LRS = (0.1, 0.01)  # two param groups, as when fine-tuning a head faster


def optimizer(lrs=LRS):
    return SGD([{"params": [Parameter(np.zeros(1))], "lr": lr} for lr in lrs], lr=lrs[0])


def lr_sequence(sched, n, metrics=None):
    out = []
    for e in range(n):
        sched.step() if metrics is None else sched.step(metrics[e])
        out.append(sched.get_last_lr())
    return out


def torch_sequence(torch_make, n, metrics=None):
    torch = pytest.importorskip("torch")
    params = [torch.zeros(1, requires_grad=True) for _ in LRS]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, LRS)], lr=LRS[0])
    sched = torch_make(torch.optim.lr_scheduler, opt)
    out = []
    for e in range(n):
        opt.step()
        sched.step() if metrics is None else sched.step(metrics[e])
        out.append(sched.get_last_lr())
    return out


# --- hand cases -------------------------------------------------------------------

def test_step_lr_hand_computed():
    sched = StepLR(optimizer((1.0,)), step_size=2, gamma=0.1)
    assert sched.get_last_lr() == [1.0]
    got = [lr[0] for lr in lr_sequence(sched, 5)]
    assert got == pytest.approx([1.0, 0.1, 0.1, 0.01, 0.01], rel=1e-12)


def test_cosine_hand_computed():
    opt = optimizer((1.0,))
    sched = CosineAnnealingLR(opt, T_max=4, eta_min=0.0)
    got = [lr[0] for lr in lr_sequence(sched, 4)]
    half = math.sqrt(2) / 2  # cos(π/4)
    assert got == pytest.approx([(1 + half) / 2, 0.5, (1 - half) / 2, 0.0], abs=1e-12)
    assert opt.param_groups[0]["lr"] == got[-1]


def test_plateau_halves_after_patience_is_exceeded():
    sched = ReduceLROnPlateau(optimizer((1.0,)), factor=0.5, patience=3)
    # Epoch 1 sets the best; epochs 2-4 are 3 bad epochs (allowed); the 4th bad
    # epoch (5) halves, the count restarts, and epoch 9 halves again.
    got = [lr[0] for lr in lr_sequence(sched, 9, metrics=[1.0] * 9)]
    assert got == [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25]


def test_plateau_improvement_resets_the_count():
    sched = ReduceLROnPlateau(optimizer((1.0,)), factor=0.5, patience=1)
    metrics = [1.0, 1.0, 0.5, 0.5, 0.5, 0.99995 * 0.5]  # the last gain is below threshold 1e-4
    got = [lr[0] for lr in lr_sequence(sched, 6, metrics)]
    assert got == [1, 1, 1, 1, 0.5, 0.5]
    assert sched.best == 0.5


def test_plateau_cooldown_and_min_lr():
    sched = ReduceLROnPlateau(optimizer((1.0,)), mode="max", factor=0.1, patience=0,
                              cooldown=1, min_lr=0.05)
    # patience 0: every bad epoch outside cooldown reduces; 1 epoch of cooldown after each.
    got = [lr[0] for lr in lr_sequence(sched, 6, metrics=[np.array(2.0)] * 6)]
    assert got == pytest.approx([1, 0.1, 0.1, 0.05, 0.05, 0.05])


def test_plateau_skips_reductions_smaller_than_eps():
    sched = ReduceLROnPlateau(optimizer((1e-8,)), factor=0.5, patience=0, eps=1e-8)
    got = [lr[0] for lr in lr_sequence(sched, 3, metrics=[1.0] * 3)]
    assert got == [1e-8, 1e-8, 1e-8]  # halving would change lr by only 5e-9


# --- against PyTorch --------------------------------------------------------------

@pytest.mark.parametrize("make, torch_make", [
    (lambda o: StepLR(o, step_size=3, gamma=0.5), lambda s, o: s.StepLR(o, step_size=3, gamma=0.5)),
    (lambda o: StepLR(o, step_size=1), lambda s, o: s.StepLR(o, step_size=1)),
    (lambda o: CosineAnnealingLR(o, T_max=10, eta_min=1e-3),
     lambda s, o: s.CosineAnnealingLR(o, T_max=10, eta_min=1e-3)),
    (lambda o: CosineAnnealingLR(o, T_max=7), lambda s, o: s.CosineAnnealingLR(o, T_max=7)),
])
def test_epoch_schedules_match_torch(make, torch_make):
    expected = torch_sequence(torch_make, 25)  # past T_max: the cosine comes back up
    got = lr_sequence(make(optimizer()), 25)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-15)


PLATEAU_METRICS = [1.0, 0.9, 0.9, 0.91, 0.95, 0.9, 0.89999, 0.7, 0.7, 0.8, 0.8, 0.8,
                   0.8, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]


@pytest.mark.parametrize("kwargs", [
    dict(factor=0.5, patience=3),
    dict(factor=0.5, patience=1, threshold=0.05, threshold_mode="abs", cooldown=2),
    dict(mode="max", factor=0.3, patience=0, min_lr=[0.02, 0.005]),
    dict(mode="max", factor=0.5, patience=2, threshold=0.1, cooldown=1, min_lr=1e-3),
])
def test_plateau_matches_torch(kwargs):
    expected = torch_sequence(lambda s, o: s.ReduceLROnPlateau(o, **kwargs), len(PLATEAU_METRICS),
                              PLATEAU_METRICS)
    got = lr_sequence(ReduceLROnPlateau(optimizer(), **kwargs), len(PLATEAU_METRICS), PLATEAU_METRICS)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


# --- state dicts ------------------------------------------------------------------

@pytest.mark.parametrize("make, metrics", [
    (lambda o: StepLR(o, step_size=2, gamma=0.5), None),
    (lambda o: CosineAnnealingLR(o, T_max=6, eta_min=1e-3), None),
    (lambda o: ReduceLROnPlateau(o, factor=0.5, patience=1, cooldown=1), PLATEAU_METRICS),
])
def test_resume_gives_the_same_rates(make, metrics):
    n, k = 14, 5
    opt = optimizer()
    sched = make(opt)
    lr_sequence(sched, k, metrics)
    saved = sched.state_dict()
    rest = lr_sequence(sched, n - k, None if metrics is None else metrics[k:])

    opt2 = optimizer()
    sched2 = make(opt2)
    sched2.load_state_dict(saved)
    # The saved rates are back in the optimizer before any further step.
    assert [g["lr"] for g in opt2.param_groups] == saved["_last_lr"]
    assert lr_sequence(sched2, n - k, None if metrics is None else metrics[k:]) == rest


def test_state_dict_is_a_copy():
    sched = ReduceLROnPlateau(optimizer(), min_lr=[0.0, 0.0])
    saved = sched.state_dict()
    saved["min_lrs"][0] = 5.0
    assert sched.min_lrs == [0.0, 0.0]
    with pytest.raises(ValueError, match="do not fit"):
        StepLR(optimizer(), step_size=1).load_state_dict(saved)


def test_bad_arguments_are_rejected():
    opt = optimizer()
    for make, match in [
        (lambda: StepLR(opt, step_size=0), "step_size"),
        (lambda: StepLR(opt, step_size=1.5), "step_size"),
        (lambda: StepLR(opt, step_size=2, gamma=0), "gamma"),
        (lambda: CosineAnnealingLR(opt, T_max=0), "T_max"),
        (lambda: CosineAnnealingLR(opt, T_max=5, eta_min=-1), "eta_min"),
        (lambda: ReduceLROnPlateau(opt, mode="up"), "mode"),
        (lambda: ReduceLROnPlateau(opt, threshold_mode="pct"), "threshold_mode"),
        (lambda: ReduceLROnPlateau(opt, factor=1.0), "factor"),
        (lambda: ReduceLROnPlateau(opt, patience=-1), "patience"),
        (lambda: ReduceLROnPlateau(opt, cooldown=0.5), "cooldown"),
        (lambda: ReduceLROnPlateau(opt, threshold=-1e-4), "threshold"),
        (lambda: ReduceLROnPlateau(opt, min_lr=[0.1]), "min_lr"),
        (lambda: ReduceLROnPlateau(opt, min_lr=-0.1), "min_lr"),
    ]:
        with pytest.raises(ValueError, match=match):
            make()
    with pytest.raises(TypeError, match="optimizer"):
        StepLR([Parameter(np.zeros(1))], step_size=1)

"""Optimizers and gradient clipping: hand-computed steps, PyTorch, exact resume.
The blocked and fused Adam against the reference: test_optim_ops.py."""
import math

import numpy as np
import pytest

from minidl import Parameter
from minidl.optim import SGD, Adam, AdamW, clip_grad_norm_


def run(opt, params, grads):
    """Apply each step's gradients (a list per step, one array per parameter)."""
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad[...] = g
        opt.step()


def scalar_run(make, grads, start=1.0):
    p = Parameter(np.array([start]))
    opt = make([p])
    history = []
    for g in grads:
        p.grad[...] = g
        opt.step()
        history.append(float(p.data[0]))
    return history


# --- hand-computed steps --------------------------------------------------------

@pytest.mark.parametrize("kwargs, expected", [
    # θ ← θ - η g with g = 1, η = 0.1
    (dict(), [0.9, 0.8]),
    # b1 = g = 1; b2 = 0.9 * 1 + 1 = 1.9
    (dict(momentum=0.9), [0.9, 0.9 - 0.19]),
    # Nesterov: step uses g + μ b: 1 + 0.9 * 1 = 1.9, then 1 + 0.9 * 1.9 = 2.71
    (dict(momentum=0.9, nesterov=True), [0.81, 0.81 - 0.271]),
    # dampening only from the second step: b2 = 0.9 * 1 + 0.5 * 1 = 1.4
    (dict(momentum=0.9, dampening=0.5), [0.9, 0.9 - 0.14]),
    # L2: g = 1 + 0.1 θ: 1.1, then 1 + 0.1 * 0.89 = 1.089
    (dict(weight_decay=0.1), [0.89, 0.89 - 0.1089]),
])
def test_sgd_hand_computed(kwargs, expected):
    history = scalar_run(lambda ps: SGD(ps, lr=0.1, **kwargs), [1.0, 1.0])
    assert history == pytest.approx(expected, rel=1e-12)


def test_adam_hand_computed():
    # g1 = 2: m = 0.2, v = 0.004, m̂ = 2, v̂ = 4 -> θ = 1 - 0.1 * 2 / 2 = 0.9
    # g2 = -1: m = 0.18 - 0.1 = 0.08, v = 0.003996 + 0.001 = 0.004996,
    #   m̂ = 0.08 / 0.19, v̂ = 0.004996 / 0.001999 -> θ = 0.9 - 0.1 m̂ / √v̂
    history = scalar_run(lambda ps: Adam(ps, lr=0.1, eps=0.0), [2.0, -1.0])
    assert history == pytest.approx([0.9, 0.87336629603396], rel=1e-12)
    first = scalar_run(lambda ps: Adam(ps, lr=0.1, eps=1e-8), [2.0])
    assert first == pytest.approx([1 - 0.1 * 2 / (2 + 1e-8)], rel=1e-14)


def test_adamw_decays_before_the_adam_step():
    # θ = 1, η = λ = 0.1, g = 2 then -1 (the Adam example above, m̂/√v̂ = 1 then
    # (0.9 - 0.87336629603396) / 0.1). Decay first: 1 * 0.99 - 0.1 = 0.89, then
    # 0.89 * 0.99 - 0.02663370396604. (Decaying after the step would give 0.891.)
    history = scalar_run(lambda ps: AdamW(ps, lr=0.1, eps=0.0, weight_decay=0.1), [2.0, -1.0])
    assert history == pytest.approx([0.89, 0.8811 - 0.02663370396604], rel=1e-12)


def test_adam_l2_versus_adamw_decoupled_decay():
    # Zero loss gradient: Adam's decay λθ = 0.1 goes through the normalisation
    # (m̂ / √v̂ = 1) and moves θ by the full η; AdamW only shrinks θ by 1 - ηλ.
    adam = scalar_run(lambda ps: Adam(ps, lr=0.1, eps=0.0, weight_decay=0.1), [0.0])
    adamw = scalar_run(lambda ps: AdamW(ps, lr=0.1, weight_decay=0.1), [0.0])
    assert adam == pytest.approx([0.9], rel=1e-12)
    assert adamw == pytest.approx([0.99], rel=1e-12)


# --- against PyTorch ------------------------------------------------------------

CONFIGS = [
    (SGD, "SGD", dict(lr=0.1)),
    (SGD, "SGD", dict(lr=0.05, momentum=0.9)),
    (SGD, "SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2)),
    (SGD, "SGD", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=1e-3)),
    (Adam, "Adam", dict(lr=1e-2)),
    (Adam, "Adam", dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    (AdamW, "AdamW", dict(lr=1e-2)),
    (AdamW, "AdamW", dict(lr=3e-2, betas=(0.5, 0.9), weight_decay=0.3)),
]


def random_problem(dtype, n_steps=10, seed=0):
    rng = np.random.default_rng(seed)
    shapes = [(3, 4), (5,)]
    start = [rng.normal(size=s).astype(dtype) for s in shapes]
    grads = [[rng.normal(size=s).astype(dtype) for s in shapes] for _ in range(n_steps)]
    return start, grads


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("cls, torch_name, kwargs", CONFIGS)
def test_matches_torch_optim(cls, torch_name, kwargs, dtype, rtol):
    torch = pytest.importorskip("torch")
    start, grads = random_problem(dtype)
    params = [Parameter(a.copy()) for a in start]
    tparams = [torch.tensor(a.copy(), requires_grad=True) for a in start]
    opt = cls(params, **kwargs)
    topt = getattr(torch.optim, torch_name)(tparams, foreach=False, **kwargs)
    for step_grads in grads:
        run(opt, params, [step_grads])
        for tp, g in zip(tparams, step_grads):
            tp.grad = torch.tensor(g)
        topt.step()
        for p, tp in zip(params, tparams):
            np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=rtol, atol=rtol)
    assert all(p.data.dtype == dtype for p in params)


def test_param_groups_match_torch():
    torch = pytest.importorskip("torch")
    start, grads = random_problem(np.float64, seed=1)
    params = [Parameter(a.copy()) for a in start]
    tparams = [torch.tensor(a.copy(), requires_grad=True) for a in start]
    opt = SGD([{"params": [params[0]], "lr": 1e-3}, {"params": [params[1]], "momentum": 0.5}],
              lr=0.1, momentum=0.9)
    topt = torch.optim.SGD([{"params": [tparams[0]], "lr": 1e-3}, {"params": [tparams[1]], "momentum": 0.5}],
                           lr=0.1, momentum=0.9, foreach=False)
    run(opt, params, grads)
    for step_grads in grads:
        for tp, g in zip(tparams, step_grads):
            tp.grad = torch.tensor(g)
        topt.step()
    for p, tp in zip(params, tparams):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-12)


# --- parameters, frozen, in place -----------------------------------------------

@pytest.mark.parametrize("make", [lambda ps: SGD(ps, lr=0.1, momentum=0.9), lambda ps: AdamW(ps)])
def test_frozen_parameters_are_skipped_until_unfrozen(make):
    frozen = Parameter(np.ones(3), requires_grad=False)
    live = Parameter(np.ones(3))
    opt = make([frozen, live])
    frozen.grad[...] = live.grad[...] = 1.0
    opt.step()
    np.testing.assert_array_equal(frozen.data, np.ones(3))
    assert frozen not in opt.state and np.all(live.data < 1)
    frozen.requires_grad = True
    opt.step()
    assert np.all(frozen.data < 1)


def test_step_updates_in_place_and_leaves_grad_alone():
    p = Parameter(np.ones((2, 2), dtype=np.float32))
    data = p.data
    opt = Adam([p], weight_decay=0.5)
    p.grad[...] = 0.25
    opt.step()
    assert p.data is data and p.data.dtype == np.float32
    np.testing.assert_array_equal(p.grad, np.full((2, 2), 0.25, dtype=np.float32))
    opt.zero_grad()
    np.testing.assert_array_equal(p.grad, 0)


def test_bad_arguments_are_rejected():
    p = Parameter(np.ones(2))
    with pytest.raises(ValueError, match="lr"):
        SGD([p], lr=-0.1)
    with pytest.raises(ValueError, match="betas"):
        Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="betas"):
        Adam([p], betas=(-0.1, 0.999))
    with pytest.raises(ValueError, match="nesterov"):
        SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="momentum"):
        SGD([p], lr=0.1, momentum=-0.9)
    with pytest.raises(ValueError, match="weight_decay"):
        AdamW([p], weight_decay=-1)
    with pytest.raises(ValueError, match="empty"):
        SGD([], lr=0.1)
    with pytest.raises(TypeError, match="Parameters"):
        SGD([np.ones(2)], lr=0.1)
    with pytest.raises(ValueError, match="twice"):
        SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(ValueError, match="unknown hyper-parameters"):
        SGD([{"params": [p], "learning_rate": 0.1}], lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        SGD([{"params": [p], "lr": -1.0}], lr=0.1)


# --- state dicts ------------------------------------------------------------------

def jsonish(obj):
    """What a JSON round trip does to a state dict: string keys, lists for tuples."""
    if isinstance(obj, dict):
        return {str(k): jsonish(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonish(v) for v in obj]
    return obj


RESUMABLE = [
    lambda groups: SGD(groups, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2),
    lambda groups: Adam(groups, lr=1e-2, weight_decay=1e-3),
    lambda groups: AdamW(groups, lr=1e-2, betas=(0.8, 0.95)),
]


@pytest.mark.parametrize("through_json", [False, True])
@pytest.mark.parametrize("make", RESUMABLE)
def test_resume_is_bit_identical(make, through_json):
    start, grads = random_problem(np.float32, n_steps=8, seed=2)
    frozen_start = np.ones(2, dtype=np.float32)

    def build(arrays, head_lr):
        ps = [Parameter(a.copy()) for a in arrays]
        frozen = Parameter(frozen_start.copy(), requires_grad=False)
        opt = make([{"params": [ps[0], frozen], "lr": head_lr}, {"params": [ps[1]]}])
        return ps, opt

    params, opt = build(start, head_lr=3e-3)
    run(opt, params, grads[:4])
    saved = opt.state_dict()
    saved = jsonish(saved) if through_json else saved
    snapshot = [p.data.copy() for p in params]
    run(opt, params, grads[4:])  # the uninterrupted run carries on after saving

    resumed, opt2 = build(snapshot, head_lr=1.0)  # the saved lr must replace this one
    opt2.load_state_dict(saved)
    assert opt2.param_groups[0]["lr"] == 3e-3
    run(opt2, resumed, grads[4:])
    for p, q in zip(params, resumed):
        np.testing.assert_array_equal(p.data, q.data)


def test_state_dict_holds_host_copies_and_hyper_parameters():
    p = Parameter(np.ones(3))
    opt = Adam([p], lr=0.01, betas=(0.8, 0.9))
    p.grad[...] = 1.0
    opt.step()
    sd = opt.state_dict()
    assert sd["state"][0]["step"] == 1
    assert sd["param_groups"] == [dict(lr=0.01, betas=(0.8, 0.9), eps=1e-8, weight_decay=0.0, params=[0])]
    assert sd["state"][0]["exp_avg"] is not opt.state[p]["exp_avg"]
    np.testing.assert_allclose(sd["state"][0]["exp_avg"], 0.2)


def test_load_state_dict_rejects_a_different_model():
    p, q = Parameter(np.ones(3)), Parameter(np.ones(3))
    opt = SGD([p], lr=0.1, momentum=0.9)
    p.grad[...] = 1.0
    opt.step()
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="param groups"):
        SGD([{"params": [p]}, {"params": [q]}], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="parameters in the state dict"):
        SGD([p, q], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="shape"):
        SGD([Parameter(np.ones(4))], lr=0.1, momentum=0.9).load_state_dict(sd)
    with pytest.raises(ValueError, match="do not fit Adam"):
        Adam([p]).load_state_dict(sd)


# --- clip_grad_norm_ ------------------------------------------------------------

def test_clip_grad_norm_hand_computed():
    a, b = Parameter(np.zeros(1)), Parameter(np.zeros(1))
    a.grad[...], b.grad[...] = 3.0, 4.0
    assert clip_grad_norm_([a, b], max_norm=1.0) == pytest.approx(5.0)
    scale = 1.0 / (5.0 + 1e-6)
    np.testing.assert_allclose([a.grad[0], b.grad[0]], [3 * scale, 4 * scale], rtol=1e-14)
    assert clip_grad_norm_([a, b], max_norm=10.0) == pytest.approx(1.0, rel=1e-6)
    np.testing.assert_allclose([a.grad[0], b.grad[0]], [3 * scale, 4 * scale], rtol=1e-14)


def test_clip_grad_norm_matches_torch_and_ignores_frozen():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    grads = [rng.normal(size=s) for s in [(4, 3), (7,), (2, 2, 2)]]
    params = [Parameter(np.zeros_like(g)) for g in grads]
    for p, g in zip(params, grads):
        p.grad[...] = g
    frozen = Parameter(np.zeros(5), requires_grad=False)
    frozen.grad[...] = 100.0
    tparams = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for tp, g in zip(tparams, grads):
        tp.grad = torch.tensor(g)
    total = clip_grad_norm_(params + [frozen], max_norm=0.5)
    ttotal = torch.nn.utils.clip_grad_norm_(tparams, max_norm=0.5)
    assert total == pytest.approx(ttotal.item(), rel=1e-12)
    assert total == pytest.approx(math.sqrt(sum(np.sum(g * g) for g in grads)), rel=1e-12)
    for p, tp in zip(params, tparams):
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-12)
    np.testing.assert_array_equal(frozen.grad, 100.0)
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm_(params, max_norm=0)

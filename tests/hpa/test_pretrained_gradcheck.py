"""torchvision's architectures (ResNet-34/50/101, DenseNet-121/161/169, VGG-16/19 and _bn): gradients, training.

Each network keeps its full depth, narrowed through its width options, and is
gradient-checked as a whole in float64 on 2 images of 64 px (so the last
stage's batch norms still see 2x2 maps in training mode).

Deep networks have hundreds of parameter tensors and, on these CPUs, a
forward pass of 0.1-0.4 s even narrowed, so checking each tensor on its own
(``check_module``: two passes per direction and tensor) would take minutes
per network. Instead all of them move at once: with L = sum(model(x) * g) for
a random upstream g, and random directions v_x, v_W for the input and every
parameter, the analytic directional derivative

    dx . v_x + sum_W dL/dW . v_W

must match (L(x + eps v_x, W + eps v_W) - L(x - eps v_x, W - eps v_W)) / (2 eps)
to 1e-6 relative. A wrong backward anywhere moves the analytic sum, and the
check needs only two forward passes per direction. (Every layer kind has its
own per-tensor checks in tests/engine.)

Eval mode with batch-norm statistics from one training pass is the mode of
a fine-tuning's first stage. Training mode (batch statistics, dropout masks,
held fixed by reseeding) is checked on ResNet-34, ResNet-50 and the VGGs.
"""
import numpy as np
import pytest
from test_models_overfit import TARGET_LOSS, random_samples, train_until

import minidl as md
from hpa.models import TORCHVISION_MODELS, build_model
from minidl.layers import BatchNorm2d

SIZE = 64
# Moving every parameter at once moves each unit's input much more than moving one tensor does, so
# with eps = 1e-5 ReLU and max-pool kinks are crossed (errors up to 1 that shrink 10-100x per tenfold
# smaller eps, the signature of a kink, not of a wrong gradient). At 1e-8 the central difference's
# round-off, about 1e-16 |L| / eps, is still far below the 1e-6 tolerance.
EPS = 1e-8
SMALL = {
    **{f"resnet{d}": dict(widths=(2, 3, 4, 5)) for d in (34, 50, 101)},
    **{f"densenet{d}": dict(growth_rate=2, init_features=4, bn_size=2) for d in (121, 161, 169)},
    **{f"vgg{d}{bn}": dict(widths=(2, 3, 4, 5, 5), hidden=6, pool_size=2) for d in (16, 19) for bn in ("", "_bn")},
}
# ResNet-101's 100 layers amplify a perturbation most: with images of seed 7 two of its directions
# cross a kink even at eps = 1e-8 (errors 2e-3, falling to 1e-8 at eps = 1e-9); seed 8 is clear.
IMAGE_SEED = {"resnet101": 8}
TRAIN_MODE = ("resnet34", "resnet50", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn")


def small(name, seed=0):
    md.manual_seed(seed)
    return build_model(name, image_size=SIZE, **SMALL[name]).astype(np.float64)


def images(n=2, seed=7):
    return np.random.default_rng(seed).standard_normal((n, 4, SIZE, SIZE))


def directional_errors(model, x, n_directions=2, seed=1):
    """Relative errors of the whole network's directional derivatives (see the module docstring)."""
    rng = np.random.default_rng(seed)
    params = model.parameters()
    buffers = {name: b.copy() for name, b in model.named_buffers()}

    def loss(dx_, dws):
        for p, dw in zip(params, dws):
            p.data += dw
        md.manual_seed(0)  # the same dropout masks in every pass
        value = float(np.sum(model(x + dx_) * g))
        for p, dw in zip(params, dws):
            p.data -= dw
        return value

    md.manual_seed(0)
    y = model(x)
    g = rng.standard_normal(y.shape)
    model.zero_grad()
    dx = model.backward(g)
    errors = []
    for _ in range(n_directions):
        vx = rng.standard_normal(x.shape)
        vs = [rng.standard_normal(p.shape) for p in params]
        analytic = np.sum(dx * vx) + sum(np.sum(p.grad * v) for p, v in zip(params, vs))
        numerical = (loss(EPS * vx, [EPS * v for v in vs]) - loss(-EPS * vx, [-EPS * v for v in vs])) / (2 * EPS)
        errors.append(abs(analytic - numerical) / max(abs(analytic), abs(numerical)))
    for name, b in model.named_buffers():  # training-mode passes moved the running statistics
        b[...] = buffers[name]
    return errors


def test_every_torchvision_architecture_is_checked():
    assert set(SMALL) == set(TORCHVISION_MODELS)


def with_running_statistics(model, x):
    """Eval mode, each batch norm's running statistics those of ``x`` (one pass, momentum 1)."""
    for m in model.modules():
        if isinstance(m, BatchNorm2d):
            m.momentum = 1.0
    model.train()(x)
    return model.eval()


@pytest.mark.parametrize("name", sorted(SMALL))
def test_whole_network_gradients_in_eval_mode(name):
    x = images(seed=IMAGE_SEED.get(name, 7))
    errors = directional_errors(with_running_statistics(small(name), x), x)
    assert max(errors) < 1e-6, errors


@pytest.mark.parametrize("name", TRAIN_MODE)
def test_whole_network_gradients_in_training_mode(name):
    errors = directional_errors(small(name).train(), images())
    assert max(errors) < 1e-6, errors


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet50", "densenet121", "vgg16_bn"])
def test_overfits_sixteen_random_samples(name):
    """As ``test_models_overfit`` (full-batch Adam on random labels), narrow networks at 32 px, dropout off."""
    options = {"resnet50": dict(widths=(8, 8, 16, 16)), "densenet121": SMALL["densenet121"],
               "vgg16_bn": dict(widths=(4, 4, 8, 8, 8), hidden=64, pool_size=1, dropout=0.0)}[name]
    md.manual_seed(0)
    model = build_model(name, image_size=32, **options)
    x, y = random_samples(32)
    loss, steps = train_until(model, x, y)
    assert loss < TARGET_LOSS, f"{name}: training loss {loss:.4f} after {steps} steps"


# torchvision's state-dict sizes: parameters + 3 buffers per batch norm
TORCHVISION_KEYS = {"resnet50": 320, "densenet121": 727, "vgg16_bn": 97}


@pytest.mark.parametrize("name", sorted(TORCHVISION_KEYS))
def test_full_width_networks_have_torchvision_key_counts_and_run(name):
    """Full width (VGG's dense layers narrowed: their 120 million weights take long to draw)."""
    md.manual_seed(0)
    model = build_model(name, **({"hidden": 64} if name.startswith("vgg") else {})).eval()
    assert len(model.state_dict()) == TORCHVISION_KEYS[name]
    assert model.expected_input == (4, 224)
    x = np.random.default_rng(0).standard_normal((1, 4, 64, 64)).astype(np.float32)
    y = model(x)
    assert y.shape == (1, 28) and y.dtype == np.float32 and np.isfinite(y).all()

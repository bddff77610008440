"""torchvision's architectures (ResNet-34/50/101, DenseNet-121/161/169, VGG-16/19 and _bn): gradients, training.

Each network keeps its full depth, narrowed through its width options, and is
gradient-checked as a whole in float64 on 2 images of 64 px (so the last
stage's batch norms still see 2x2 maps). Deep networks have hundreds of
parameter tensors, so each tensor is checked along 2 random directions
(elementwise only up to 4 entries); a wrong backward anywhere changes the
directional derivative of its tensor.

Eval mode with batch-norm statistics from one training pass is the mode of
a fine-tuning's first stage and avoids a degenerate case of training mode: in
the bottleneck ResNets and the DenseNets every consumer of the stem's
max-pooled output is a convolution followed by batch norm, which cancels any
shift of it, so the stem batch norm's bias has an exact zero gradient whose
central difference is pure round-off. Training mode (batch statistics,
dropout masks) is checked where that case does not arise: ResNet-34 (identity
shortcuts in its first stage) and the VGGs.
"""
import numpy as np
import pytest

import minidl as md
from hpa.models import TORCHVISION_MODELS, build_model
from minidl.gradcheck import check_module
from minidl.layers import BatchNorm2d
from test_models_overfit import TARGET_LOSS, random_samples, train_until

SIZE = 64
SMALL = {
    **{f"resnet{d}": dict(widths=(2, 3, 4, 5)) for d in (34, 50, 101)},
    **{f"densenet{d}": dict(growth_rate=2, init_features=4, bn_size=2) for d in (121, 161, 169)},
    **{f"vgg{d}{bn}": dict(widths=(2, 3, 4, 5, 5), hidden=6, pool_size=2) for d in (16, 19) for bn in ("", "_bn")},
}
TRAIN_MODE = ("resnet34", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn")


def small(name, seed=0):
    md.manual_seed(seed)
    return build_model(name, image_size=SIZE, **SMALL[name])


def images(n=2, seed=7):
    return np.random.default_rng(seed).standard_normal((n, 4, SIZE, SIZE))


def test_every_torchvision_architecture_is_checked():
    assert set(SMALL) == set(TORCHVISION_MODELS)


def with_running_statistics(model, x):
    """Eval mode, each batch norm's running statistics those of ``x`` (one pass, momentum 1)."""
    model.astype(np.float64)
    for m in model.modules():
        if isinstance(m, BatchNorm2d):
            m.momentum = 1.0
    model.train()(x)
    return model.eval()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SMALL))
def test_whole_network_gradients_in_eval_mode(name):
    x = images()
    check_module(with_running_statistics(small(name), x), x, tol=1e-6, max_elements=4, n_directions=2)


@pytest.mark.slow
@pytest.mark.parametrize("name", TRAIN_MODE)
def test_whole_network_gradients_in_training_mode(name):
    model = small(name).train()
    check_module(model, images(), tol=1e-6, max_elements=4, n_directions=2)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet50", "densenet121", "vgg16_bn"])
def test_overfits_sixteen_random_samples(name):
    """As ``test_models_overfit`` (full-batch Adam on random labels), narrow networks at 32 px, dropout off."""
    options = {**SMALL[name], **({"dropout": 0.0} if name.startswith("vgg") else {})}
    if name == "resnet50":
        options["widths"] = (8, 8, 16, 16)
    md.manual_seed(0)
    model = build_model(name, image_size=32, **options)
    x, y = random_samples(32)
    loss, steps = train_until(model, x, y)
    assert loss < TARGET_LOSS, f"{name}: training loss {loss:.4f} after {steps} steps"


# torchvision's state-dict sizes: parameters + 3 buffers per batch norm
TORCHVISION_KEYS = {"resnet50": 320, "densenet121": 727, "vgg16_bn": 97}


@pytest.mark.parametrize("name", sorted(TORCHVISION_KEYS))
def test_full_width_networks_have_torchvision_key_counts_and_run(name):
    md.manual_seed(0)
    model = build_model(name).eval()
    assert len(model.state_dict()) == TORCHVISION_KEYS[name]
    assert model.expected_input == (4, 224)
    x = np.random.default_rng(0).standard_normal((1, 4, 64, 64)).astype(np.float32)
    y = model(x)
    assert y.shape == (1, 28) and y.dtype == np.float32 and np.isfinite(y).all()

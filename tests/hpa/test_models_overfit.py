"""Every network can memorise 16 random samples: the end-to-end test of a training step.

Random 4-channel images and random multi-hot labels have nothing to learn but
the samples themselves, so a network whose forward, backward and parameter
updates are right drives the training loss (mean binary cross-entropy on the
28 logits) towards zero within a few hundred full-batch Adam steps in
float32; a broken backward pass or update stalls it (exact gradient values
are the gradient checks' job). Dropout is off (it would keep
the training loss up on purpose); batch norm runs in training mode, as in
training. Each case uses a small input the network accepts, with the default
widths.
"""
import time

import numpy as np
import pytest

import minidl as md
from hpa.models import build_model
from minidl.losses import BCEWithLogitsLoss
from minidl.optim import Adam

SAMPLES = 16
TARGET_LOSS = 0.05
LR = 2e-3
MAX_STEPS = 300

# name -> (image size, options); the default widths everywhere, dropout off
CASES = {
    "parallel_lenet": (16, dict(dropout=0.0)),
    "gapnet": (32, dict(dropout=0.0)),
    "gapnet_pl": (32, dict(dropout=0.0)),
    "deepyeast": (16, dict(dropout=0.0)),
    "mcnn": (16, dict(dropout=0.0)),
    "densenet": (32, dict()),
    "resnet18": (32, dict()),
}


def random_samples(size, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((SAMPLES, 4, size, size)).astype(np.float32)
    y = (rng.random((SAMPLES, 28)) < 0.2).astype(np.float32)
    return x, y


def train_until(model, x, y):
    """Full-batch Adam steps until the loss is below TARGET_LOSS; returns (loss, steps)."""
    criterion = BCEWithLogitsLoss()
    optimizer = Adam(model.parameters(), lr=LR)
    model.train()
    for step in range(1, MAX_STEPS + 1):
        loss = float(criterion.forward(model(x), y))
        if loss < TARGET_LOSS:
            return loss, step
        model.zero_grad()
        model.backward(criterion.backward())
        optimizer.step()
    return loss, MAX_STEPS


@pytest.mark.parametrize("name", sorted(CASES))
def test_overfits_sixteen_random_samples(name):
    size, options = CASES[name]
    md.manual_seed(0)
    model = build_model(name, image_size=size, **options)
    x, y = random_samples(size)
    start = time.perf_counter()
    loss, steps = train_until(model, x, y)
    seconds = time.perf_counter() - start
    print(f"{name}: loss {loss:.4f} after {steps} steps in {seconds:.1f} s")
    assert loss < TARGET_LOSS, f"{name}: training loss {loss:.4f} after {steps} steps"

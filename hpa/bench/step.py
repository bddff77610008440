"""One float32 training step, as the benchmarks time it.

``training_step(model, x, y)`` is what ``hpa.training`` does per batch: forward,
BCE-with-logits loss, zero_grad, backward, Adam update (lr 1e-3), on the fused model.
``registry_training_step(name, size, batch, device)`` builds network ``name``
for ``size`` px images (seeded) and a random batch on ``device`` (images uniform
in [0, 1), about 10% positive labels) for it. ``hpa.bench.steps``,
``hpa.bench.gpu_check`` and ``hpa.bench.data`` time them.
"""
import numpy as np

import minidl as md
from hpa.data.reading.labels import CHANNELS, NUM_CLASSES
from hpa.models import build_model
from minidl.layers.fused import fuse


def training_step(model, x, y):
    """A function doing one training step of ``model`` on (x, y), with the model fused as the
    trainer fuses it (``minidl.layers.fused``; on the CPU the layers run as they are). The
    function's ``chains`` are the fused runs; after a step, each chain's ``_fused`` says
    whether its fused op ran. The loss is not read: on a GPU nothing in the step waits."""
    criterion, optimizer = md.losses.BCEWithLogitsLoss(), md.optim.Adam(model.parameters(), lr=1e-3)
    chains = fuse(model)

    def step():
        criterion(model(x), y, to_float=False)
        model.zero_grad()
        model.backward(criterion.backward())
        optimizer.step()
    step.chains = chains
    return step


def registry_training_step(name, size, batch, device="cpu"):
    """``training_step`` of registry network ``name`` at ``size`` px on a random batch of ``batch``."""
    md.use(device)
    md.manual_seed(0)
    model = build_model(name, image_size=size).to(device)
    rng = np.random.default_rng(0)
    x = md.to_device(rng.random((batch, len(CHANNELS), size, size), dtype=np.float32), device)
    y = md.to_device((rng.random((batch, NUM_CLASSES)) < 0.1).astype(np.float32), device)
    return training_step(model, x, y)

"""One float32 training step of a registry network on random data, for the benchmarks.

``training_step(name, size, batch, device)`` builds network ``name`` for
``size`` px images (seeded), a random batch on ``device`` (images uniform in
[0, 1), about 10% positive labels), and returns ``minidl.bench_steps``'s
training step on them: what ``hpa.training`` does per batch (forward, BCE
loss, zero_grad, backward, Adam update). ``hpa.gpu_check`` and
``hpa.bench_data`` time it.
"""
import numpy as np

import minidl as md
from hpa.data.labels import CHANNELS, NUM_CLASSES
from hpa.models import build_model
from minidl import bench_steps


def training_step(name, size, batch, device="cpu"):
    md.use(device)
    md.manual_seed(0)
    model = build_model(name, image_size=size).to(device)
    rng = np.random.default_rng(0)
    x = md.to_device(rng.random((batch, len(CHANNELS), size, size), dtype=np.float32), device)
    y = md.to_device((rng.random((batch, NUM_CLASSES)) < 0.1).astype(np.float32), device)
    return bench_steps.training_step(model, x, y)

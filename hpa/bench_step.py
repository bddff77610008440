"""One float32 training step of a registry network on random data, for the benchmarks.

``training_step(name, size, batch, device)`` builds network ``name`` for
``size`` px images (seeded), a random batch on ``device`` (images uniform in
[0, 1), about 10% positive labels), BCE-with-logits loss and Adam, and returns
a function doing what ``hpa.training`` does per batch: forward, loss,
zero_grad, backward, update. ``hpa.gpu_check`` and ``hpa.bench_data`` time it.
"""
import numpy as np

import minidl as md
from hpa.data.labels import CHANNELS, NUM_CLASSES
from hpa.models import build_model


def training_step(name, size, batch, device="cpu"):
    md.use(device)
    md.manual_seed(0)
    model = build_model(name, image_size=size).to(device)
    optimizer = md.optim.Adam(model.parameters(), lr=1e-3)
    criterion = md.losses.BCEWithLogitsLoss()
    rng = np.random.default_rng(0)
    x = md.to_device(rng.random((batch, len(CHANNELS), size, size), dtype=np.float32), device)
    y = md.to_device((rng.random((batch, NUM_CLASSES)) < 0.1).astype(np.float32), device)

    def step():
        criterion(model(x), y)
        model.zero_grad()
        model.backward(criterion.backward())
        optimizer.step()
    return step

"""The parallel LeNet and GapNet trained data-parallel on K ranks against one process.

The same three comparisons as ``training.py`` (SyncBatchNorm run vs one
process; plain BatchNorm run vs one process; plain run vs one process that
normalises slice by slice), on hpa's own networks with dropout off, trained
with Adam and gradient clipping as ``hpa.train`` does.
"""
import numpy as np
from common import run

import minidl as md
import minidl.distributed as dist
from hpa.models import build_model
from minidl import optim

STEPS, BATCH = 3, 8
NETWORKS = {
    "parallel_lenet": (16, dict(conv_channels=(3, 4), branch_features=6, hidden=(8,), dropout=0.0)),
    "gapnet": (32, dict(widths=(3, 4, 5), convs=(1, 2, 2), hidden=6, dropout=0.0)),
}


def fresh(name, dtype):
    size, options = NETWORKS[name]
    md.manual_seed(0)
    return build_model(name, image_size=size, **options).astype(dtype)


def batches(name, dtype):
    size = NETWORKS[name][0]
    rng = np.random.default_rng(1)
    for _ in range(STEPS):
        yield (rng.standard_normal((BATCH, 4, size, size)).astype(dtype),
               (rng.random((BATCH, 28)) < 0.2).astype(dtype))


def step(model, optimizer, params):
    optim.clip_grad_norm_(params, 5.0)
    optimizer.step()


def train(name, dtype, group=None, slices=1, sync_batchnorm=False):
    """One process (``group`` None, on ``slices`` slices) or this rank of a data-parallel run."""
    model, criterion = fresh(name, dtype), md.BCEWithLogitsLoss()
    if group is not None:
        if sync_batchnorm:
            model = dist.SyncBatchNorm.convert_sync_batchnorm(model, group)
        model = dist.DistributedDataParallel(model, group)
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    for x, y in batches(name, dtype):
        model.zero_grad()
        parts = [(group.rank, group.size)] if group is not None else [(s, slices) for s in range(slices)]
        for part, count in parts:
            mine = slice(*dist.shard_bounds(len(x), part, count))
            criterion(model(x[mine]), y[mine])
            model.backward(criterion.backward() / (slices if group is None else 1))
        step(model, optimizer, model.parameters())
    return model.module if group is not None else model


def max_relative_difference(a, b):
    return max(float(np.max(np.abs(p.data - q.data)) / np.max(np.abs(q.data)))
               for p, q in zip(a.parameters(), b.parameters()))


def body(group, argv):
    report = {}
    for name in NETWORKS:
        for dtype in ("float64", "float32"):
            single = train(name, dtype)
            sync = train(name, dtype, group, sync_batchnorm=True)
            plain = train(name, dtype, group)
            ghost = train(name, dtype, slices=group.size)
            report[f"{name}/{dtype}"] = {"sync_vs_single": max_relative_difference(sync, single),
                                         "plain_vs_single": max_relative_difference(plain, single),
                                         "plain_vs_ghost": max_relative_difference(plain, ghost)}
    return report


if __name__ == "__main__":
    run(body)

"""K steps of data-parallel training against one process on the same global batches.

Three runs from the same initial weights, each rank computing the
single-process references itself:

* ``sync``: DistributedDataParallel with SyncBatchNorm, each rank on its
  slice, against one process with BatchNorm on the whole global batch. Only
  the order of floating-point sums differs.
* ``plain``: DistributedDataParallel with plain BatchNorm, against the same
  single process: batch statistics now come from each slice, so they differ.
* ``ghost``: the ``plain`` run against one process that normalises each slice
  by its own statistics (forward and backward slice by slice, gradients
  averaged): the difference above was the batch statistics and nothing else.
"""
import numpy as np
from common import run

import minidl as md
import minidl.distributed as dist

STEPS, BATCH, SIDE = 3, 8, 16


def lenet_like():
    """A small branch of the parallel LeNet: conv, pool, batch norm, ReLU, twice, then a linear head."""
    return md.Sequential(md.Conv2d(4, 6, 5, padding=2, bias=False), md.MaxPool2d(2), md.BatchNorm2d(6), md.ReLU(),
                         md.Conv2d(6, 8, 3, padding=1, bias=False), md.MaxPool2d(2), md.BatchNorm2d(8), md.ReLU(),
                         md.Flatten(), md.Linear(8 * (SIDE // 4) ** 2, 28))


def batches(dtype):
    rng = np.random.default_rng(1)
    for _ in range(STEPS):
        yield (rng.standard_normal((BATCH, 4, SIDE, SIDE)).astype(dtype),
               (rng.random((BATCH, 28)) < 0.2).astype(dtype))


def fresh(dtype):
    md.manual_seed(0)  # the same weights on every rank and in every run
    return lenet_like().astype(dtype)


def train_single(dtype, slices=1):
    """One process; with ``slices`` > 1 each slice is normalised by its own statistics."""
    model, criterion = fresh(dtype), md.BCEWithLogitsLoss()
    optimizer = md.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for x, y in batches(dtype):
        model.zero_grad()
        for part in range(slices):
            mine = slice(*dist.shard_bounds(len(x), part, slices))
            criterion(model(x[mine]), y[mine])
            model.backward(criterion.backward() / slices)
        optimizer.step()
    return model


def train_parallel(dtype, group, sync_batchnorm):
    model, criterion = fresh(dtype), md.BCEWithLogitsLoss()
    if sync_batchnorm:
        model = dist.SyncBatchNorm.convert_sync_batchnorm(model, group)
    model = dist.DistributedDataParallel(model, group)
    optimizer = md.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for x, y in batches(dtype):
        mine = slice(*dist.shard_bounds(len(x), group.rank, group.size))
        model.zero_grad()
        criterion(model(x[mine]), y[mine])
        model.backward(criterion.backward())
        optimizer.step()
    return model.module


def max_relative_difference(a, b):
    """Largest over parameters of max|a - b| / max|b|."""
    return max(float(np.max(np.abs(p.data - q.data)) / np.max(np.abs(q.data)))
               for p, q in zip(a.parameters(), b.parameters()))


def body(group, argv):
    report = {}
    for dtype in ("float64", "float32"):
        single = train_single(dtype)
        sync = train_parallel(dtype, group, sync_batchnorm=True)
        plain = train_parallel(dtype, group, sync_batchnorm=False)
        ghost = train_single(dtype, slices=group.size)
        report[dtype] = {"sync_vs_single": max_relative_difference(sync, single),
                         "plain_vs_single": max_relative_difference(plain, single),
                         "plain_vs_ghost": max_relative_difference(plain, ghost)}
        weights = np.concatenate([p.data.reshape(-1) for p in sync.parameters()])
        every = group.allgather(weights[None])
        report[dtype]["ranks_bitwise_equal"] = bool((every == every[0]).all())
    return report


if __name__ == "__main__":
    run(body)

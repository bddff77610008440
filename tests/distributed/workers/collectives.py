"""Collective calls, model broadcast and the bucketed gradient all-reduce on K ranks."""
import numpy as np
from common import flat_state, run

import minidl as md
import minidl.distributed as dist


def small_model():
    return md.Sequential(md.Conv2d(3, 4, 3, padding=1), md.BatchNorm2d(4), md.ReLU(),
                         md.GlobalAvgPool2d(), md.Linear(4, 5))


def body(group, argv):
    rank, size = group.rank, group.size
    report = {"size": size}

    a = np.arange(6, dtype=np.float64).reshape(2, 3) * (rank + 1)
    report["allreduce"] = group.allreduce(a).tolist()
    b = np.full(4, float(rank), np.float32)
    report["broadcast"] = group.broadcast(b, root=size - 1).tolist()
    g = np.full((rank + 1, 2), rank, np.int64)  # a different number of rows on each rank
    report["allgather"] = group.allgather(g).tolist()
    cube = np.arange(rank * 12, rank * 12 + 2 * 3 * 2 * (rank + 1), dtype=np.float32).reshape(-1, 3, 2)
    report["allgather_3d"] = group.allgather(cube).tolist()
    try:
        group.allgather(np.zeros((1, 2 + rank)))
    except ValueError as error:  # every rank sees every layout, so every rank raises
        report["mismatch"] = str(error)
    report["broadcast_json"] = group.broadcast_json({"run": f"runs/rank{rank}", "ids": [rank, "é"]}, root=size - 1)
    report["allgather_json"] = group.allgather_json({"rank": rank, "name": "x" * (rank + 1)})
    try:
        group.broadcast_json(object() if rank == 0 else None)
    except (TypeError, ValueError) as error:  # rank 0 cannot encode it: every rank raises
        report["unsendable"] = type(error).__name__

    # Different initialisation on every rank, then rank 0's everywhere.
    md.manual_seed(100 + rank)
    model = small_model().astype(np.float64)
    model[1].running_mean[...] = rank + 1.0
    dist.broadcast_module(model, group)
    every = group.allgather(flat_state(model)[None])
    report["broadcast_module_equal"] = bool((every == every[0]).all())
    md.manual_seed(100)
    rank0 = small_model().astype(np.float64)  # what rank 0 initialised
    rank0[1].running_mean[...] = 1.0
    report["broadcast_module_is_rank0"] = bool(np.array_equal(every[0], flat_state(rank0)))

    # Gradient mean: a float32 and a frozen parameter mixed in, small buckets.
    model[4].bias._replace(model[4].bias.data.astype(np.float32))
    model[1].weight.requires_grad = False
    rng = np.random.default_rng(rank)
    for p in model.parameters():
        p.grad[...] = rng.standard_normal(p.shape)
    frozen_before = model[1].weight.grad.copy()
    expected = [group.allgather(p.grad[None]).mean(axis=0) for p in model.parameters()]
    sync = dist.GradientAllReduce(model.parameters(), group, bucket_bytes=256)
    sync()
    trainable = [p for p in model.parameters() if p.requires_grad]
    report["buckets"] = len(sync.buckets())
    report["tensors"] = len(trainable)
    report["calls"] = sync.calls
    report["dtypes"] = sorted({str(b.dtype) for b in sync.buckets()})
    report["max_error"] = max(float(np.max(np.abs(p.grad - e)))
                              for p, e in zip(model.parameters(), expected) if p.requires_grad)
    report["frozen_untouched"] = bool(np.array_equal(model[1].weight.grad, frozen_before))
    return report


if __name__ == "__main__":
    run(body)

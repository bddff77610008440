"""SyncBatchNorm across K ranks: gradient check, and equality with BatchNorm on the whole batch.

The gradient check uses minidl's own checker on a wrapper whose input and
output are the *global* batch (identical on every rank): each rank normalises
its own slice with SyncBatchNorm, and the wrapper gathers the slices. Every
rank then perturbs the same global element at the same time, and the
objective sum(y * g) covers the whole global output, so the numerical
derivative is that of the global function, computed collectively.
"""
import numpy as np
from common import run

import minidl as md
import minidl.distributed as dist
from minidl.gradcheck import check_module


class GatheredSyncBatchNorm(md.Module):
    """x (global batch) -> SyncBatchNorm on this rank's slice -> gathered y (global batch)."""

    def __init__(self, features, group):
        super().__init__()
        self.bn = dist.SyncBatchNorm(features, group=group)
        self.group = group

    def forward(self, x):
        return self.group.allgather(self.bn(dist.shard(x, self.group.rank, self.group.size)))

    def backward(self, dy):
        dx = self.bn.backward(np.ascontiguousarray(dist.shard(dy, self.group.rank, self.group.size)))
        for p in self.bn.parameters():  # each rank holds its share; the check wants the total
            self.group.allreduce(p.grad)
        return self.group.allgather(dx)


def compare_with_batchnorm(x, group, reference_cls):
    """Largest relative differences between SyncBatchNorm on slices and plain BatchNorm on x."""
    rng = np.random.default_rng(7)
    dy = rng.standard_normal(x.shape)
    gamma, beta = rng.uniform(0.5, 1.5, x.shape[1]), rng.standard_normal(x.shape[1])
    single = reference_cls(x.shape[1]).astype(np.float64)
    sync = dist.SyncBatchNorm(x.shape[1], group=group).astype(np.float64)
    for layer in (single, sync):
        layer.weight.data[...], layer.bias.data[...] = gamma, beta
    mine = slice(*dist.shard_bounds(len(x), group.rank, group.size))
    y_single, y_sync = single(x), group.allgather(sync(np.ascontiguousarray(x[mine])))
    dx_single = single.backward(dy)
    dx_sync = group.allgather(sync.backward(np.ascontiguousarray(dy[mine])))
    for p in sync.parameters():
        group.allreduce(p.grad)

    def rel(a, b):
        return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))

    return {"y": rel(y_sync, y_single), "dx": rel(dx_sync, dx_single),
            "dgamma": rel(sync.weight.grad, single.weight.grad), "dbeta": rel(sync.bias.grad, single.bias.grad),
            "running_mean": rel(sync.running_mean, single.running_mean),
            "running_var": rel(sync.running_var, single.running_var)}


def body(group, argv):
    report = {}
    rng = np.random.default_rng(0)  # the same global input on every rank
    for name, shape in (("even", (4, 3, 3, 3)), ("uneven", (3, 2, 3, 2)), ("features", (5, 4))):
        x = rng.standard_normal(shape) * 2 + 1
        wrapper = GatheredSyncBatchNorm(shape[1], group)
        wrapper.bn.weight.data[...] = rng.uniform(0.5, 1.5, shape[1])
        wrapper.bn.bias.data[...] = rng.standard_normal(shape[1])
        result = check_module(wrapper, x, tol=1e-6, raise_on_failure=False)
        report[f"gradcheck_{name}"] = result.max_rel_error
        report[f"gradcheck_{name}_report"] = str(result)
        reference = md.BatchNorm2d if len(shape) == 4 else md.BatchNorm1d
        report[f"versus_batchnorm_{name}"] = compare_with_batchnorm(x, group, reference)
    return report


if __name__ == "__main__":
    run(body)

"""Average gradients over the ranks after backward, in a few bucketed all-reduces.

Rank r computes the gradient g_r of the mean loss over its own shard of the
global batch. When every shard has the same size n, the gradient of the mean
loss over the whole global batch of K*n samples is the mean of the shards':

    g = (1/(K n)) sum_i dl_i/dW = (1/K) sum_r (1/n) sum_{i in shard r} dl_i/dW = (1/K) sum_r g_r

so an all-reduce (sum) followed by a division by K gives every rank the
gradient a single process would compute on the global batch, and their
optimizers take identical steps. (Unequal shards: scale each rank's upstream
gradient first, see :func:`minidl.distributed.sharding.loss_scale`.)

    sync = GradientAllReduce(model.parameters())
    model.backward(criterion.backward())
    sync()                 # now every p.grad is the global-batch gradient
    optimizer.step()
"""
import time

from minidl.distributed.flatten import BUCKET_BYTES, layout_of, plan_buckets
from minidl.distributed.group import get_process_group


class GradientAllReduce:
    """Averages ``p.grad`` over ranks for every trainable parameter in ``params``.

    group: a process group (default: the default group at call time).
    bucket_bytes: largest flat buffer per call; see :mod:`minidl.distributed.flatten`.

    ``seconds`` accumulates the time spent inside all-reduce calls (which
    includes waiting for the slowest rank to arrive), ``calls`` their number.
    """

    def __init__(self, params, group=None, bucket_bytes=BUCKET_BYTES):
        self.params = [p for p in params if p.requires_grad]
        self.group, self.bucket_bytes = group, bucket_bytes
        self.seconds, self.calls = 0.0, 0
        self._buckets, self._layout = [], None

    def buckets(self):
        """The bucket plan for the gradients as they are now (re-planned if they changed)."""
        grads = [p.grad for p in self.params]
        layout = layout_of(grads)
        if layout != self._layout:  # model.astype() or .to() replaced the gradient arrays
            self._buckets, self._layout = plan_buckets(grads, self.bucket_bytes), layout
        return self._buckets

    def __call__(self):
        group = self.group or get_process_group()
        if group.size == 1:
            return
        grads = [p.grad for p in self.params]
        buckets = self.buckets()
        for i, bucket in enumerate(buckets):
            flat = bucket.pack(grads)
            start = time.perf_counter()
            group.allreduce(flat, what=f"all-reduce of gradient bucket {i + 1}/{len(buckets)}")
            self.seconds += time.perf_counter() - start
            self.calls += 1
            flat /= group.size
            bucket.unpack(grads)


def broadcast_module(module, group=None, root=0, buffers=True):
    """Copy ``module``'s parameters (and buffers) from rank ``root`` to every rank.

    Called once before training, so that all ranks start from rank 0's
    initialisation (or checkpoint) whatever their own random state was.
    Packed into buckets like the gradients: a few calls, not one per tensor.
    """
    group = group or get_process_group()
    if group.size == 1:
        return module
    arrays = [p.data for p in module.parameters()]
    if buffers:
        arrays += module.buffers()
    buckets = plan_buckets(arrays)
    for i, bucket in enumerate(buckets):
        group.broadcast(bucket.pack(arrays), root=root, what=f"broadcast of the model, bucket {i + 1}/{len(buckets)}")
        bucket.unpack(arrays)
    return module

"""``DistributedDataParallel``: a module that trains as one model on K ranks.

    model = DistributedDataParallel(build_model(), group)   # rank 0's weights everywhere
    logits = model(x_shard)                                 # this rank's slice of the batch
    model.backward(criterion.backward())                    # gradients averaged over ranks
    optimizer.step()                                        # identical step on every rank

It wraps ``module`` (registered as ``module``, so state-dict keys gain the
prefix ``module.`` as in PyTorch; save ``model.module`` to keep the plain names):

* construction broadcasts parameters and buffers from rank 0;
* ``backward`` runs the module's backward, then :class:`GradientAllReduce`;
* with ``broadcast_buffers`` (the default), each training forward first copies
  rank 0's buffers to every rank, so plain BatchNorm's running statistics,
  which each rank would otherwise estimate from its own shard only, stay the
  same everywhere (rank 0's). :class:`SyncBatchNorm` makes them global instead.
"""
from minidl.distributed.flatten import BUCKET_BYTES, plan_buckets
from minidl.distributed.gradients import GradientAllReduce, broadcast_module
from minidl.distributed.group import get_process_group
from minidl.module import Module


class DistributedDataParallel(Module):
    def __init__(self, module, group=None, bucket_bytes=BUCKET_BYTES, broadcast_buffers=True):
        super().__init__()
        self.module = module
        self.group = group or get_process_group()
        self.broadcast_buffers = broadcast_buffers
        broadcast_module(module, self.group)
        self.gradient_sync = GradientAllReduce(module.parameters(), self.group, bucket_bytes)

    def forward(self, x):
        if self.training and self.broadcast_buffers and self.group.size > 1:
            buffers = self.module.buffers()
            for bucket in plan_buckets(buffers):
                self.group.broadcast(bucket.pack(buffers), what="broadcast of the buffers")
                bucket.unpack(buffers)
        return self.module(x)

    def backward(self, dy):
        dx = self.module.backward(dy)
        self.gradient_sync()
        return dx

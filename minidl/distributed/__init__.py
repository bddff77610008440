"""Data-parallel training: K processes (CPU cores, machines or GPUs) train one model.

    mpiexec -n 2 python train.py

    import minidl.distributed as dist
    group = dist.init_process_group("mpi")          # or "nccl" for CuPy arrays, one GPU per rank
    model = dist.SyncBatchNorm.convert_sync_batchnorm(build_model())
    model = dist.DistributedDataParallel(model)     # rank 0's weights on every rank
    for rows in global_batches:                     # the same sequence on every rank
        x, y = load(dist.shard(rows, group.rank, group.size))
        loss = criterion(model(x), y)
        model.zero_grad()
        model.backward(criterion.backward())        # gradients averaged over the ranks
        optimizer.step()                            # the same step everywhere

| module | what it holds |
| --- | --- |
| ``group`` | the process-group contract, the single-process group, the default group |
| ``mpi_group`` | ``MPIProcessGroup``: collectives over mpi4py (host arrays) |
| ``nccl_group`` | ``NCCLProcessGroup``: collectives over NCCL (CuPy arrays), id sent by MPI |
| ``watchdog`` | a deadline on every collective call: a dead rank ends the job, no hang |
| ``failure`` | ``abort_on_failure``: an exception on one rank ends every rank |
| ``flatten`` | packing many arrays into a few flat buckets per collective call |
| ``gradients`` | ``GradientAllReduce`` (bucketed, averaged) and ``broadcast_module`` |
| ``data_parallel`` | ``DistributedDataParallel``, the module wrapper that uses both |
| ``sync_batchnorm`` | ``SyncBatchNorm``: batch statistics of the global batch |
| ``sharding`` | which contiguous slice of every global batch a rank takes |
| ``launch`` | finding ``mpiexec`` and starting K ranks of this Python |

Importing this package needs neither mpi4py nor CuPy; creating an MPI or
NCCL group does (``pip install -e '.[distributed]'``).
"""
from minidl.distributed.data_parallel import DistributedDataParallel
from minidl.distributed.failure import abort_on_failure
from minidl.distributed.gradients import GradientAllReduce, broadcast_module
from minidl.distributed.group import (
    ProcessGroup,
    SingleProcessGroup,
    get_process_group,
    init_process_group,
    set_process_group,
)
from minidl.distributed.sharding import loss_scale, shard, shard_bounds
from minidl.distributed.sync_batchnorm import SyncBatchNorm

__all__ = [
    "DistributedDataParallel", "GradientAllReduce", "ProcessGroup", "SingleProcessGroup", "SyncBatchNorm",
    "abort_on_failure", "broadcast_module", "get_process_group", "init_process_group", "loss_scale",
    "set_process_group", "shard", "shard_bounds",
]

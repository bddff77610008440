"""Data-parallel training: ``mpiexec -n K python -m hpa.train --distributed ...``.

K processes train one model. Every rank builds the same run (split, seed,
model, optimizer) and takes its slice of every global batch of
``--batch-size`` rows (:class:`hpa.data.batches.sharded_loader.ShardedBatchLoader`).
After each backward pass the gradients are averaged over the ranks, so every
rank takes the step one process would take on the whole global batch, and
the weights stay identical everywhere. Batch norms become
:class:`~minidl.distributed.SyncBatchNorm` (unless ``--no-sync-batchnorm``),
so their statistics are those of the global batch too.

Rank 0 alone prints, shows progress bars, and writes checkpoints, metrics,
reports and plots; the others keep quiet (their stdout goes to /dev/null,
their errors still reach stderr). Validation is sharded: each rank predicts
its contiguous slice of the validation set and the logits are gathered in
order. A checkpoint holds nothing that depends on K, so ``--resume`` works
with any number of ranks (the checkpoint must be readable by every rank:
a shared file system, or a copy on each machine).

A rank that fails ends the job: errors abort every rank with ``error: rank R
of K: ...`` and a non-zero exit, and a rank that stops answering is caught by
the collective timeout (``$MINIDL_COLLECTIVE_TIMEOUT``, default 300 s).
"""
import contextlib
import os
import sys
import time

import numpy as np

from hpa.evaluation.inference import predict_logits
from hpa.runtime.errors import HpaError
from hpa.training.trainer import Trainer
from minidl import distributed as dist
from minidl.losses import sigmoid


def add_arguments(group):
    """``--distributed`` and ``--no-sync-batchnorm`` in the parser's training group."""
    group.add_argument("--distributed", action="store_true",
                       help="data-parallel training over the processes of mpiexec -n K (global batch "
                            "--batch-size; MPI for --device cpu, NCCL for --device gpu)")
    group.add_argument("--no-sync-batchnorm", dest="sync_batchnorm", action="store_false",
                       help="with --distributed: normalise by each rank's own batch statistics")


def start(config):
    """The process group of this run: all ranks with ``--distributed``, else this process alone."""
    if not config.distributed:
        return dist.SingleProcessGroup()
    try:
        group = dist.init_process_group("nccl" if config.device == "gpu" else "mpi")
    except ImportError as error:
        raise HpaError(f"--distributed: {error}") from None
    if not group.is_root:
        sys.stdout = open(os.devnull, "w")
    return group


@contextlib.contextmanager
def failing_rank_ends_job(group):
    """One-line errors end every rank (exit 2); anything else aborts with its traceback (exit 1)."""
    if group.size == 1:
        yield
        return
    with dist.abort_on_failure(group):
        try:
            yield
        except (HpaError, OSError) as error:
            group.abort(str(error), code=2)


def root_first(group, build):
    """``build()`` on rank 0, then on the others: rank 0 writes shared files (data, caches) that they reuse."""
    if group.is_root:
        result = build()
    group.barrier("waiting for rank 0 to prepare the data", timeout=0)  # no deadline: may take long
    return result if group.is_root else build()


class DistributedTrainer(Trainer):
    """:class:`Trainer` on one rank of ``group``: averaged gradients, sharded validation, rank 0 writes."""

    def __init__(self, *args, group, **kwargs):
        self.group = group  # before Trainer.__init__, whose first enter_stage builds the gradient sync
        super().__init__(*args, **kwargs)
        self.is_root = group.is_root
        self.sync_batchnorm = any(isinstance(m, dist.SyncBatchNorm) for m in self.model.modules())

    def enter_stage(self, epoch):
        """Trainer's stage change, then all-reduce the gradients of the stage's trainable parameters."""
        before = self.stage
        super().enter_stage(epoch)
        if self.stage != before:
            self.gradient_sync = dist.GradientAllReduce(self.params, self.group)

    def broadcast_model(self):
        """Rank 0's weights and buffers everywhere (after initialising or resuming)."""
        dist.broadcast_module(self.model, self.group)

    def train_epoch(self, epoch):
        start = time.perf_counter()
        self._global_sizes = iter(self.train_loader.global_batch_sizes())
        mean_loss, _ = super().train_epoch(epoch)
        local = float(self.train_loader.local_batch_sizes().sum())
        totals = self.group.allreduce(np.array([mean_loss * local, local]), what="all-reduce of the epoch's loss")
        if not self.sync_batchnorm:
            # Each rank estimated running statistics from its own slices: use rank 0's everywhere.
            buffers = self.model.buffers()
            for array in buffers:
                self.group.broadcast(array, what="broadcast of the batch-norm running statistics")
        return totals[0] / totals[1], totals[1] / (time.perf_counter() - start)

    def backward(self, dlogits):
        # Each rank's loss is the mean over its own slice; weighting it by its
        # share of the global batch makes the averaged gradient the global mean's.
        scale = dist.loss_scale(len(dlogits), next(self._global_sizes), self.group.size)
        super().backward(dlogits * dlogits.dtype.type(scale) if scale != 1 else dlogits)
        self.gradient_sync()

    def validate(self):
        """(loss, probabilities (N, 28)) of the whole validation set; each rank predicts its slice."""
        logits = self.group.allgather(predict_logits(self.model, self.val_loader, self.device),
                                      what="all-gather of the validation predictions")
        loss = self.criterion.forward(logits, self.val_labels.astype(np.float32))
        return float(loss), sigmoid(logits)

    def save(self, name, epoch):
        if self.is_root:
            super().save(name, epoch)
        self.group.barrier(f"waiting for rank 0 to write {name}")  # others may read it next

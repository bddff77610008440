"""One rank's share of every training batch, for data-parallel runs.

``mpiexec -n K python -m hpa.train --distributed`` keeps the single-process
sequence of global batches of ``--batch-size`` rows and gives rank r the
r-th contiguous slice of each (:func:`minidl.distributed.shard`):

    loader = ShardedBatchLoader(images, labels, fit_idx, batch_size=32, seed=0,
                                rank=group.rank, world_size=group.size, ...)
    for x, y in loader:          # x (about 32/K, 4, S, S): this rank's slice
        ...

What must not depend on K:

* the order: :meth:`BatchLoader.epoch_order` with the same seed, unchanged,
  so the global batches are exactly those of one process;
* oversampling: the index list (:mod:`hpa.sampling`) is drawn once per run
  from the run's seed, the same on every rank, before it is sharded;
* augmentation: the sample at place p of the epoch's order is augmented
  with generators of its own, seeded by ``(seed, epoch, p)``
  (:meth:`BatchLoader.make_batch`), whichever rank loads it and whatever
  else is in its slice.

This loader is :class:`BatchLoader` yielding a slice of each batch
(:meth:`ShardedBatchLoader._share`), and with K = 1 it gives exactly its
batches. A run is therefore the same with or without ``--distributed``,
and one resumed on a different number of ranks continues the same run.
"""
import numpy as np

from hpa.data.batches.loader import BatchLoader
from hpa.runtime.errors import HpaError
from minidl.distributed import shard_bounds


class ShardedBatchLoader(BatchLoader):
    """:class:`BatchLoader` for rank ``rank`` of ``world_size``: its slice of each global batch.

    ``batch_size`` is the global batch; it, and a last partial batch that is
    kept, must be at least ``world_size`` so that every rank has a sample in
    every batch. Other arguments are
    those of :class:`BatchLoader`.
    """

    def __init__(self, *args, rank=0, world_size=1, **kwargs):
        super().__init__(*args, **kwargs)
        if not 0 <= rank < world_size:
            raise HpaError(f"rank: expected 0..{world_size - 1}, got {rank}")
        if self.batch_size < world_size:
            raise HpaError(f"--batch-size {self.batch_size}: must be at least the number of ranks ({world_size}), "
                           f"so that every rank gets a sample of every batch")
        self.rank, self.world_size = rank, world_size
        last = len(self.indices) % self.batch_size
        if last and not self.drop_last and last < world_size:
            raise HpaError(f"the last batch of an epoch has {last} samples, fewer than the {world_size} ranks: "
                           f"drop it (drop_last) or change --batch-size")

    def global_batch_sizes(self):
        """Rows in each global batch of an epoch, (len(self),) ints: for weighting the shards."""
        sizes = np.full(len(self), self.batch_size)
        if sizes.size and len(self.indices) % self.batch_size and not self.drop_last:
            sizes[-1] = len(self.indices) % self.batch_size
        return sizes

    def local_batch_sizes(self):
        """Rows of this rank's slice of each global batch, (len(self),) ints."""
        return np.array([stop - start for start, stop in
                         (shard_bounds(int(n), self.rank, self.world_size) for n in self.global_batch_sizes())],
                        dtype=np.int64)

    def _share(self, n):
        """This rank's contiguous slice [start, stop) of a global batch of ``n`` samples."""
        return shard_bounds(n, self.rank, self.world_size)

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
* augmentation: sample i of the epoch's order is augmented with its own
  generator, seeded by ``(seed, epoch, 2, i)``, whichever rank loads it.
  (:class:`BatchLoader` draws one generator per batch, so there a sample's
  augmentation depends on its neighbours in the batch, and would change
  with the slicing.) Each sample is therefore augmented as a batch of one:
  B/K calls per batch rather than one, a small cost next to the training
  step (the augmentations are vectorised over the pixels of an image).

With K = 1 this loader gives the same batches as :class:`BatchLoader`
without augmentation, and rank-independent ones with it, so a distributed
run resumed on a different number of ranks continues the same run.
"""
import itertools

import numpy as np

from hpa.data.loader import BatchLoader, _run_ahead
from hpa.errors import HpaError
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

    def __iter__(self):
        epoch = self.epoch
        order = self.epoch_order(epoch)
        jobs = (self._job(order, epoch, k) for k in range(len(self)))
        if self.workers == 0:
            return itertools.starmap(self.make_batch, jobs)
        return _run_ahead(self.make_batch, jobs, self.workers, self.prefetch)

    def _job(self, order, epoch, k):
        first = k * self.batch_size
        rows = order[first:first + self.batch_size]
        start, stop = shard_bounds(len(rows), self.rank, self.world_size)
        return rows[start:stop], epoch, np.arange(first + start, first + stop)

    def make_batch(self, rows, epoch, positions):
        """This rank's slice: ``rows`` (b,) at ``positions`` (b,) of the epoch's order -> (x, y)."""
        ascending = np.argsort(rows, kind="stable")  # read the memmap in file order, as BatchLoader does
        x = self.images[rows[ascending]][np.argsort(ascending)]
        if self.augment is not None:
            x = np.concatenate([self.augment(x[i:i + 1], np.random.default_rng([self.seed, epoch, 2, int(p)]))
                                for i, p in enumerate(positions)])
        x = x * self._scale if x.dtype == np.float32 else np.multiply(x, self._scale, dtype=np.float32)
        x += self._shift
        y = None if self.labels is None else self.labels[rows].astype(np.float32)
        return x, y

"""Which part of a global batch each rank takes.

Data parallelism keeps the *global* sequence of batches of a single process
and cuts every batch into K contiguous slices, rank r taking slice r:

    global batch k:   rows  b_0 b_1 b_2 b_3 b_4          (B = 5, K = 2)
    rank 0:                 b_0 b_1
    rank 1:                         b_2 b_3 b_4

Slice r is ``[floor(r B / K), floor((r + 1) B / K))``: sizes differ by at most
one, and concatenating the slices in rank order gives the batch back, so
gathered outputs come back in the single-process order. The global order
itself comes from the single-process sampler with the same seed, unchanged;
anything random per sample (augmentation, oversampling) must be seeded per
sample or per run, never per rank, so that the result does not depend on K.
"""


def shard_bounds(n, rank, size):
    """``(start, stop)`` of rank ``rank``'s slice of ``n`` items split over ``size`` ranks."""
    if not 0 <= rank < size:
        raise ValueError(f"rank must be in 0..{size - 1}, got {rank}")
    return rank * n // size, (rank + 1) * n // size


def shard(items, rank, size):
    """Rank ``rank``'s contiguous slice of ``items`` (a sequence or array)."""
    start, stop = shard_bounds(len(items), rank, size)
    return items[start:stop]


def loss_scale(local, total, size):
    """Factor for a rank's upstream gradient when shards are unequal.

    Each rank's loss is the mean over its own ``local`` samples, but the
    target is the mean over all ``total``. Multiplying a rank's dL/dlogits by
    ``size * local / total`` and then averaging gradients over ``size`` ranks
    gives sum_r (local_r / total) g_r, the global mean's gradient. It is 1 for
    equal shards.
    """
    return size * local / total

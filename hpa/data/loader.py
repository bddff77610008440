"""Turn an image array into shuffled, augmented, normalised batches.

    mean, std = channel_stats(cache.images, train_idx)
    loader = BatchLoader(cache.images, cache.labels, indices=train_idx,
                         mean=mean, std=std, augment=default_augmentation())
    for epoch in range(start_epoch, epochs):
        loader.set_epoch(epoch)
        for x, y in loader:        # x (B, 4, S, S) float32, y (B, 28) float32
            ...

``images`` is any uint8 (or float32) array of shape (N, 4, S, S), typically
the memmap of :mod:`hpa.data.cache`; only the rows of a batch are read.

Reproducibility: the order of epoch ``e`` depends only on ``(seed, e)``, and
the augmentation of the sample at place ``p`` of that order only on
``(seed, e, p)``, never on thread timing, the batch size or the other
samples of its batch. A run resumed with ``set_epoch(e)`` therefore replays
exactly the batches the original run saw, and a data-parallel run
(:mod:`hpa.data.sharded_loader`), which splits each batch between processes,
sees the same augmented samples on any number of them.

Background work: worker threads build the next batches while the consumer
trains on the current one (:mod:`hpa.data.run_ahead`).
"""
import itertools

import numpy as np

from hpa.data.augment_streams import SampleStreams
from hpa.data.labels import NUM_CLASSES, as_label_matrix
from hpa.data.run_ahead import run_ahead
from hpa.data.union import StackedImages
from hpa.errors import HpaError

# Channel statistics read about this many bytes of float64 at a time.
STATS_CHUNK_BYTES = 64 * 2**20


def as_images(images):
    """Check an image array (N, C, H, W) uint8/float32; return it as an ndarray.

    A memmap stays a lazily read view of its file, and a
    :class:`~hpa.data.union.StackedImages` of several sources stays as it is.
    """
    if not hasattr(images, "shape") or len(images.shape) != 4:
        shape = getattr(images, "shape", type(images).__name__)
        raise HpaError(f"images: expected an array of shape (N, C, H, W), got {shape}")
    if images.dtype not in (np.uint8, np.float32):
        raise HpaError(f"images: dtype must be uint8 or float32, got {images.dtype}")
    return images if isinstance(images, StackedImages) else np.asarray(images)


def as_indices(indices, n):
    """Check row numbers into an array of ``n`` rows; ``None`` means all rows.

    Returns int64 (M,). Repeats are allowed (oversampling produces them).
    """
    if indices is None:
        return np.arange(n, dtype=np.int64)
    indices = np.asarray(indices)
    if indices.ndim != 1 or (indices.size and indices.dtype.kind not in "iu"):
        raise HpaError(f"indices: expected a 1-D array of integers, "
                       f"got shape {indices.shape} dtype {indices.dtype}")
    indices = indices.astype(np.int64)
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        raise HpaError(f"indices: values must be in 0..{n - 1}, got {indices.min()}..{indices.max()}")
    return indices


def _as_count(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise HpaError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def _as_channel_vector(value, name, channels, default):
    if value is None:
        return np.full(channels, default, np.float64)
    try:
        vector = np.asarray(value, np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise HpaError(f"{name}: expected {channels} numbers, got {value!r}") from None
    if vector.shape == (1,):
        vector = np.repeat(vector, channels)
    if vector.shape != (channels,) or not np.isfinite(vector).all():
        raise HpaError(f"{name}: expected {channels} finite numbers, got {value!r}")
    return vector


class BatchLoader:
    """Iterable over ``(x, y)`` batches of one epoch.

    images: uint8/float32 (N, 4, S, S), ndarray or memmap.
    labels: (N, 28) multi-hot, or None (then ``y`` is None, e.g. for test images).
    indices: rows to use, (M,) ints, repeats allowed; None = all rows.
    batch_size: samples per batch; the last batch may be smaller unless
        ``drop_last``.
    shuffle: new order every epoch, from ``(seed, epoch)``. Without it batches
        follow ``indices`` as given.
    mean, std: per-channel statistics (4,) on the 0..255 scale, see
        :func:`channel_stats`; batches become ``(x - mean) / std``. Defaults
        0 and 255, i.e. plain scaling to 0..1. With ``groups`` (N,) ints (the
        data source of each row, :mod:`hpa.data.union`) they are (G, 4), one
        row of statistics per source.
    augment: callable ``augment(x, rng) -> x`` on the uint8 batch before
        normalisation (see :mod:`hpa.data.augment`), or None. ``rng`` is a
        :class:`~hpa.data.augment_streams.SampleStreams`: each image draws
        from its own stream, so the first dimension of every draw runs over
        the images. It returns a new
        array or (a view of) its input, never an array it keeps: the loader
        normalises the result in place.
    copy_augment, copies_from: entries ``indices[copies_from:]`` are copies
        (e.g. of oversampled rare-class rows); after ``augment`` they also pass
        ``copy_augment.apply_to(x, is_copy, rng)`` (an
        :class:`~hpa.data.augment_names.OneOf`), the originals do not.
    prefetch: finished batches allowed to wait for the consumer, beyond the
        ones being built. Up to ``workers + prefetch`` batches exist at once
        (at 512 px a batch of 32 is 128 MB).
    workers: background threads; 0 builds each batch in the consumer's thread
        when it is asked for (simplest to debug).

    Yields x float32 (B, 4, S, S) and y float32 (B, 28).
    """

    def __init__(self, images, labels, indices=None, batch_size=32, shuffle=True, seed=0,
                 mean=None, std=None, augment=None, drop_last=False, prefetch=2, workers=2,
                 copy_augment=None, copies_from=None, groups=None):
        self.images = as_images(images)
        n, channels = self.images.shape[:2]
        self.labels = None if labels is None else as_label_matrix(labels, rows=n, classes=NUM_CLASSES)
        self.indices = as_indices(indices, n)
        self.batch_size = _as_count(batch_size, "batch_size", 1)
        self.seed = _as_count(seed, "seed", 0)
        self.prefetch = _as_count(prefetch, "prefetch", 0)
        self.workers = _as_count(workers, "workers", 0)
        if augment is not None and not callable(augment):
            raise HpaError(f"augment: expected a callable augment(x, rng) or None, got {augment!r}")
        self.augment = augment
        self.copy_augment = copy_augment
        self.copies_from = len(self.indices) if copies_from is None else int(copies_from)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.groups = None if groups is None else np.asarray(groups, np.int64)
        if self.groups is None:
            mean = _as_channel_vector(mean, "mean", channels, 0.0)[None]
            std = _as_channel_vector(std, "std", channels, 255.0)[None]
        else:
            mean, std = (np.asarray(v, np.float64) for v in (mean, std))
            if self.groups.shape != (n,) or mean.shape != std.shape or mean.ndim != 2 or \
                    mean.shape[1] != channels or self.groups.min() < 0 or self.groups.max() >= len(mean):
                raise HpaError(f"groups, mean, std: expected (N,) source numbers and (G, {channels}) statistics, "
                               f"got {self.groups.shape}, {mean.shape}, {std.shape}")
        if (std <= 0).any():
            raise HpaError(f"std: every value must be > 0, got {std.tolist()}")
        # (x - mean) / std as one multiply and one add; one row per source.
        self._scale = (1 / std).astype(np.float32).reshape(-1, channels, 1, 1)
        self._shift = (-mean / std).astype(np.float32).reshape(-1, channels, 1, 1)
        self.epoch = 0
        self.start_batch = 0

    def set_epoch(self, epoch, start_batch=0):
        """Choose the epoch whose order and augmentation the next pass uses.

        Call it at the start of every epoch; iterating does not advance it.
        ``start_batch`` skips that epoch's first batches (continuing an
        epoch interrupted after them); the batches yielded are the same as
        in a full pass.
        """
        self.epoch = _as_count(epoch, "epoch", 0)
        self.start_batch = _as_count(start_batch, "start_batch", 0)

    def __len__(self):
        """Batches per epoch."""
        full, rest = divmod(len(self.indices), self.batch_size)
        return full + (rest > 0 and not self.drop_last)

    def epoch_order(self, epoch=None):
        """Row numbers in the order epoch ``epoch`` (default: current) visits them.

        Returns int64 (M,), the concatenation of all batches of that epoch
        (including a last partial batch that ``drop_last`` skips).
        """
        return self.indices[self._positions(epoch)]

    def _positions(self, epoch=None):
        """Positions in ``indices`` in the order epoch ``epoch`` visits them, int64 (M,)."""
        epoch = self.epoch if epoch is None else _as_count(epoch, "epoch", 0)
        if not self.shuffle:
            return np.arange(len(self.indices))
        # Shuffling positions draws the same permutation as shuffling indices itself.
        return np.random.default_rng([self.seed, epoch, 0, 0]).permutation(len(self.indices))

    def __iter__(self):
        epoch = self.epoch
        positions = self._positions(epoch)
        jobs = (self._job(positions, epoch, k) for k in range(self.start_batch, len(self)))
        if self.workers == 0:
            return itertools.starmap(self.make_batch, jobs)
        return run_ahead(self.make_batch, jobs, self.workers, self.prefetch)

    def _share(self, n):
        """The part [start, stop) of a batch of ``n`` samples that this loader yields: all of it."""
        return 0, n

    def _job(self, positions, epoch, k):
        """Arguments of :meth:`make_batch` for batch ``k`` (this loader's share of it)."""
        first = k * self.batch_size
        part = positions[first:first + self.batch_size]
        start, stop = self._share(len(part))
        part = part[start:stop]
        return self.indices[part], epoch, np.arange(first + start, first + stop), part >= self.copies_from

    def make_batch(self, rows, epoch, slots, copies=None):
        """Build a batch of ``rows`` (B,) -> (x, y).

        ``slots`` (B,) are the rows' places in the epoch's order (0 for the
        first sample of the epoch); ``copies`` (B,) bool marks oversampled
        copies. Thread-safe: it only reads shared state, and each sample's
        random generators are its own, seeded from ``(seed, epoch, slot)``.
        """
        # Reading rows in ascending order lets the OS read ahead in a memmap
        # that is not in the page cache; then restore the requested order.
        ascending = np.argsort(rows, kind="stable")
        x = self.images[rows[ascending]][np.argsort(ascending)]
        if copies is None or self.copy_augment is None:
            copies = np.zeros(len(rows), bool)
        if self.augment is not None or copies.any():
            x = self._augment_each(x, epoch, slots, copies)
        # x is this batch's own array (a fresh gather, or the augmentations'
        # new output), so a float32 one can be normalised in place.
        scale, shift = (self._scale, self._shift) if self.groups is None else \
            (self._scale[self.groups[rows]], self._shift[self.groups[rows]])
        if x.dtype == np.float32:
            x *= scale
        else:
            x = np.multiply(x, scale, dtype=np.float32)
        x += shift
        y = None if self.labels is None else self.labels[rows].astype(np.float32)
        return x, y

    def _augment_each(self, x, epoch, slots, copies):
        """Augment the images of ``x`` (B, C, S, S), each with random streams of its own.

        The image at slot p of epoch e draws from ``(seed, e, 2, p)``, and, if
        it is a copy, its copy augmentation from ``(seed, e, 3, p)``
        (:class:`~hpa.data.augment_streams.SampleStreams`): the result depends on
        the sample alone, not on the batch size, the batches' split between
        processes, or the neighbours in a batch.
        """
        slots = slots.tolist()
        if self.augment is not None:
            x = self.augment(x, SampleStreams(np.random.default_rng([self.seed, epoch, 2, p]) for p in slots))
        if copies.any():
            x = self.copy_augment.apply_to(x, copies, SampleStreams(
                np.random.default_rng([self.seed, epoch, 3, p]) for p in slots))
        return x


def channel_stats(images, indices=None, max_samples=2000, seed=0):
    """Per-channel mean and standard deviation on the 0..255 scale.

    Pass the training rows only: statistics that include validation images
    would leak information about them into the model's input scaling.

    images: uint8/float32 (N, C, H, W), ndarray or memmap.
    indices: rows to measure (None = all). If there are more than
        ``max_samples``, a random subset of that many (seeded by ``seed``) is
        used: a few thousand images pin the statistics down well.
    Memory stays bounded: rows are read in chunks of about 64 MB of float64.

    Returns (mean, std), float32 arrays of shape (C,).
    """
    images = as_images(images)
    rows = as_indices(indices, len(images))
    max_samples = _as_count(max_samples, "max_samples", 1)
    if len(rows) == 0:
        raise HpaError("indices: no rows to compute channel statistics from")
    if len(rows) > max_samples:
        rows = np.random.default_rng(seed).choice(rows, max_samples, replace=False)
    rows = np.sort(rows)
    per_row = images[0].size
    chunk = max(1, STATS_CHUNK_BYTES // (8 * per_row))
    total = np.zeros(images.shape[1])
    total_sq = np.zeros(images.shape[1])
    for start in range(0, len(rows), chunk):
        block = images[rows[start:start + chunk]].astype(np.float64)
        total += block.sum(axis=(0, 2, 3))
        total_sq += np.einsum("nchw,nchw->c", block, block)
    count = len(rows) * images.shape[2] * images.shape[3]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0))
    return mean.astype(np.float32), std.astype(np.float32)

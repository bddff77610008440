"""The sharded loader: disjoint slices of the single-process batches, the same whatever the number of ranks."""
import numpy as np
import pytest

from hpa.data.augmentation.augment import default_augmentation
from hpa.data.augmentation.names import AUGMENTATIONS, DEFAULT_AUGMENT, one_of_named, parse_augment
from hpa.data.batches.loader import BatchLoader
from hpa.data.batches.sampling import oversample_indices
from hpa.data.batches.sharded_loader import ShardedBatchLoader
from hpa.runtime.errors import HpaError


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (23, 4, 8, 8), dtype=np.uint8)
    labels = (rng.random((23, 28)) < 0.2).astype(np.uint8)
    return images, labels


def _epoch(loader, epoch):
    loader.set_epoch(epoch)
    return list(loader)


def _global_batches(data, world_size, indices=None, augment=None, drop_last=False, workers=0, **options):
    """Batch k of every rank, concatenated in rank order, for epochs 0 and 1."""
    images, labels = data
    ranks = [ShardedBatchLoader(images, labels, indices, batch_size=5, seed=3, augment=augment, drop_last=drop_last,
                                workers=workers, rank=r, world_size=world_size, **options) for r in range(world_size)]
    result = []
    for epoch in (0, 1):
        per_rank = [_epoch(loader, epoch) for loader in ranks]
        for batches in zip(*per_rank):
            result.append((np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches])))
    return result


@pytest.mark.parametrize("world_size", [1, 2, 3])
@pytest.mark.parametrize("drop_last", [False, True])
def test_ranks_together_see_the_single_process_batches(data, world_size, drop_last):
    images, labels = data
    single = BatchLoader(images, labels, batch_size=5, seed=3, drop_last=drop_last, workers=0)
    expected = _epoch(single, 0) + _epoch(single, 1)
    got = _global_batches(data, world_size, drop_last=drop_last)
    assert len(got) == len(expected)
    for (x, y), (ex, ey) in zip(got, expected):
        assert np.array_equal(x, ex) and np.array_equal(y, ey)


@pytest.mark.parametrize("world_size", [2, 3, 5])
def test_augmented_and_oversampled_batches_do_not_depend_on_the_number_of_ranks(data, world_size):
    indices = oversample_indices(data[1], np.arange(20), min_count=4, seed=3)
    one = _global_batches(data, 1, indices, default_augmentation(), drop_last=True)
    many = _global_batches(data, world_size, indices, default_augmentation(), drop_last=True, workers=2)
    for (x, y), (ex, ey) in zip(many, one):
        assert np.array_equal(x, ex) and np.array_equal(y, ey)
    plain = _global_batches(data, 1, indices, drop_last=True)
    assert not np.array_equal(one[0][0], plain[0][0])  # augmentation did act


ALL_AUGMENTATIONS = ",".join(AUGMENTATIONS)


@pytest.mark.parametrize("world_size", [1, 2, 3])
@pytest.mark.parametrize("names", [DEFAULT_AUGMENT, ALL_AUGMENTATIONS])
def test_the_single_process_loader_augments_exactly_as_the_ranks_do(data, world_size, names):
    # One augmentation stream per sample, keyed by (seed, epoch, place in the
    # epoch's order): a run is the same with or without --distributed.
    images, labels = data
    indices = oversample_indices(labels, np.arange(20), min_count=4, seed=3)
    options = dict(copy_augment=one_of_named("noise,blur"), copies_from=20)
    single = BatchLoader(images, labels, indices, batch_size=5, seed=3, augment=parse_augment(names), drop_last=True,
                         workers=2, **options)
    expected = _epoch(single, 0) + _epoch(single, 1)
    got = _global_batches(data, world_size, indices, parse_augment(names), drop_last=True, **options)
    assert len(got) == len(expected)
    for (x, y), (ex, ey) in zip(got, expected):
        assert x.dtype == ex.dtype and np.array_equal(x, ex) and np.array_equal(y, ey)


@pytest.mark.parametrize("names", [DEFAULT_AUGMENT, ALL_AUGMENTATIONS])
def test_a_samples_augmentation_does_not_depend_on_the_batch_size(data, names):
    images, labels = data
    epochs = []
    for batch_size in (1, 4, 23):
        loader = BatchLoader(images, labels, batch_size=batch_size, seed=3, augment=parse_augment(names), workers=0)
        loader.set_epoch(2)
        epochs.append(np.concatenate([x for x, _ in loader]))
    assert np.array_equal(epochs[0], epochs[1]) and np.array_equal(epochs[0], epochs[2])


def test_slices_are_disjoint_and_cover_each_batch(data):
    images, labels = data
    jobs = []
    for rank in range(3):
        loader = ShardedBatchLoader(images, labels, batch_size=5, rank=rank, world_size=3)
        jobs.append([loader._job(loader._positions(0), 0, k) for k in range(len(loader))])
    for k, parts in enumerate(zip(*jobs)):
        positions = np.concatenate([slots for _, _, slots, _ in parts])
        assert np.array_equal(positions, np.arange(5 * k, min(5 * k + 5, 23)))


def test_global_batch_sizes_and_errors(data):
    images, labels = data
    loader = ShardedBatchLoader(images, labels, batch_size=5, rank=1, world_size=2)
    assert loader.global_batch_sizes().tolist() == [5, 5, 5, 5, 3]
    with pytest.raises(HpaError, match="--batch-size 2: must be at least the number of ranks"):
        ShardedBatchLoader(images, labels, batch_size=2, rank=0, world_size=3)
    with pytest.raises(HpaError, match="last batch of an epoch has 3 samples, fewer than the 4 ranks"):
        ShardedBatchLoader(images, labels, batch_size=5, rank=0, world_size=4)
    with pytest.raises(HpaError, match="rank: expected 0..1"):
        ShardedBatchLoader(images, labels, batch_size=5, rank=2, world_size=2)

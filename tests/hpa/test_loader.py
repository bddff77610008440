import threading
import time

import numpy as np
import pytest

import hpa.data.batches.loader
from hpa.data.augmentation.augment import default_augmentation
from hpa.data.batches.loader import BatchLoader, channel_stats
from hpa.data.reading.labels import NUM_CLASSES
from hpa.runtime.errors import HpaError

N = 37


def numbered_images(n=N, size=4):
    """Image i is filled with the value i, so a batch tells which rows it holds."""
    return np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, 4, size, size)).copy()


def random_labels(n=N, seed=0):
    return np.random.default_rng(seed).integers(0, 2, (n, NUM_CLASSES), dtype=np.uint8)


def rows_of(loader):
    """Row numbers in the order the loader delivered them (images from numbered_images)."""
    batches = [x[:, 0, 0, 0] for x, _ in loader]
    return np.rint(np.concatenate(batches) * 255).astype(int) if batches else np.array([], int)


def loaders_threads():
    return [t for t in threading.enumerate() if t.name.startswith("hpa-loader")]


@pytest.mark.parametrize("workers", [0, 2])
def test_every_index_once_per_epoch_in_epoch_order(workers):
    indices = np.arange(3, N, 2)
    loader = BatchLoader(numbered_images(), random_labels(), indices, batch_size=4, workers=workers)
    rows = rows_of(loader)
    np.testing.assert_array_equal(np.sort(rows), indices)
    np.testing.assert_array_equal(rows, loader.epoch_order())


def test_labels_follow_their_images():
    labels = random_labels()
    for x, y in BatchLoader(numbered_images(), labels, batch_size=5):
        assert y.dtype == np.float32 and y.shape == (len(x), NUM_CLASSES)
        np.testing.assert_array_equal(y, labels[np.rint(x[:, 0, 0, 0] * 255).astype(int)])


def test_order_depends_only_on_seed_and_epoch():
    def order(seed, epoch):
        loader = BatchLoader(numbered_images(), random_labels(), batch_size=8, seed=seed)
        loader.set_epoch(epoch)
        return rows_of(loader)

    assert not np.array_equal(order(0, 0), order(0, 1))
    assert not np.array_equal(order(0, 0), order(1, 0))
    np.testing.assert_array_equal(order(0, 3), order(0, 3))
    loader = BatchLoader(numbered_images(), random_labels(), batch_size=8)
    loader.set_epoch(3)
    rows_of(loader)
    np.testing.assert_array_equal(rows_of(loader), order(0, 3))  # iterating does not advance the epoch


def test_augmented_batches_reproducible_and_independent_of_threads():
    images = np.random.default_rng(0).integers(0, 256, (N, 4, 8, 8), dtype=np.uint8)

    def run(workers):
        loader = BatchLoader(images, random_labels(), batch_size=6, seed=5, augment=default_augmentation(),
                             workers=workers)
        loader.set_epoch(2)
        return np.concatenate([x for x, _ in loader])

    np.testing.assert_array_equal(run(0), run(2))
    np.testing.assert_array_equal(run(2), run(2))


def test_one_and_three_loader_threads_give_bit_identical_batches():
    # Every augmentation that draws per pixel (noise) or resamples (affine, blur) included:
    # each sample's streams are its own, so the thread that builds its batch cannot matter.
    from hpa.data.augmentation.names import parse_augment
    images = np.random.default_rng(1).integers(0, 256, (N, 4, 8, 8), dtype=np.uint8)
    augment = parse_augment("dihedral,brightness,contrast,noise,blur,affine")

    def run(workers, prefetch):
        loader = BatchLoader(images, random_labels(), batch_size=5, seed=9, augment=augment,
                             workers=workers, prefetch=prefetch)
        loader.set_epoch(1)
        return [(x, y) for x, y in loader]

    one, three = run(1, 0), run(3, 4)
    assert len(one) == len(three) == 8
    for (x1, y1), (x3, y3) in zip(one, three):
        assert x1.tobytes() == x3.tobytes() and y1.tobytes() == y3.tobytes()


def test_loader_workers_option_defaults_to_the_cores_of_this_process():
    from hpa.data.batches.run_ahead import available_cores
    from hpa.train import parse_config
    assert parse_config(["--model", "parallel_lenet"]).loader_workers is None
    assert available_cores() == len(__import__("os").sched_getaffinity(0))
    assert parse_config(["--model", "parallel_lenet", "--loader-workers", "3"]).loader_workers == 3
    with pytest.raises(HpaError, match="--loader-workers must be at least 0"):
        parse_config(["--model", "parallel_lenet", "--loader-workers", "-1"])


def test_no_shuffle_keeps_given_order():
    indices = np.array([5, 2, 30, 2, 9])
    loader = BatchLoader(numbered_images(), random_labels(), indices, batch_size=2, shuffle=False)
    np.testing.assert_array_equal(rows_of(loader), indices)


@pytest.mark.parametrize("drop_last, sizes", [(False, [8, 8, 8, 8, 5]), (True, [8, 8, 8, 8])])
def test_batch_count_and_drop_last(drop_last, sizes):
    loader = BatchLoader(numbered_images(), random_labels(), batch_size=8, drop_last=drop_last)
    assert len(loader) == len(sizes)
    assert [len(x) for x, _ in loader] == sizes


def test_without_labels_y_is_none():
    batches = list(BatchLoader(numbered_images(), None, batch_size=16))
    assert all(y is None for _, y in batches)


def test_channel_stats_and_normalisation(monkeypatch):
    rng = np.random.default_rng(0)
    centre = np.array([30, 60, 100, 150]).reshape(1, 4, 1, 1)
    spread = np.array([5, 10, 20, 30]).reshape(1, 4, 1, 1)
    images = np.clip(rng.normal(centre, spread, (50, 4, 6, 6)), 0, 255).astype(np.uint8)
    train = np.arange(40)
    monkeypatch.setattr(hpa.data.batches.loader, "STATS_CHUNK_BYTES", 8 * 4 * 6 * 6 * 7)  # several chunks
    mean, std = channel_stats(images, train)
    assert mean.shape == std.shape == (4,) and mean.dtype == np.float32
    np.testing.assert_allclose(mean, images[train].mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(std, images[train].std(axis=(0, 2, 3)), rtol=1e-4)
    x = np.concatenate([x for x, _ in BatchLoader(images, None, train, batch_size=7, mean=mean, std=std)])
    np.testing.assert_allclose(x.mean(axis=(0, 2, 3)), 0, atol=1e-4)
    np.testing.assert_allclose(x.std(axis=(0, 2, 3)), 1, atol=1e-4)
    sub_mean, _ = channel_stats(images, train, max_samples=20)
    np.testing.assert_allclose(sub_mean, mean, rtol=0.05)


def test_default_normalisation_scales_to_unit_range():
    x, _ = next(iter(BatchLoader(numbered_images(), None, batch_size=N, shuffle=False)))
    np.testing.assert_allclose(x[:, 0, 0, 0], np.arange(N) / 255, rtol=1e-6)


def test_memmap_images(tmp_path):
    path = tmp_path / "images.npy"
    np.save(path, numbered_images())
    loader = BatchLoader(np.load(path, mmap_mode="r"), random_labels(), batch_size=10)
    np.testing.assert_array_equal(np.sort(rows_of(loader)), np.arange(N))


@pytest.mark.parametrize("workers", [0, 2])
def test_worker_exception_reaches_consumer(workers):
    calls = []

    def failing(x, rng):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("broken augmentation")
        return x

    loader = BatchLoader(numbered_images(), random_labels(), batch_size=4, augment=failing, workers=workers)
    with pytest.raises(RuntimeError, match="broken augmentation"):
        for _ in loader:
            pass
    assert loaders_threads() == []


def test_breaking_early_stops_workers_without_hanging():
    def slow(x, rng):
        time.sleep(0.02)
        return x

    loader = BatchLoader(numbered_images(200), None, batch_size=2, augment=slow, workers=2, prefetch=2)
    start = time.perf_counter()
    for _ in loader:
        break
    iterator = iter(loader)
    next(iterator)
    iterator.close()
    assert time.perf_counter() - start < 1.0  # not the 100 batches x 20 ms of a full epoch
    assert loaders_threads() == []


@pytest.mark.parametrize("kwargs, name", [
    (dict(images=np.zeros((4, 8, 8), np.uint8)), "images"),
    (dict(images=np.zeros((N, 4, 8, 8), np.int16)), "images"),
    (dict(labels=np.zeros((N, 27))), "labels"),
    (dict(labels=np.full((N, 28), 2)), "labels"),
    (dict(indices=[0, N]), "indices"),
    (dict(indices=[[0, 1]]), "indices"),
    (dict(indices=[0.5]), "indices"),
    (dict(batch_size=0), "batch_size"),
    (dict(workers=-1), "workers"),
    (dict(std=[1, 1, 0, 1]), "std"),
    (dict(mean=[1, 2, 3]), "mean"),
    (dict(augment="flip"), "augment"),
])
def test_bad_arguments_raise_hpa_error(kwargs, name):
    args = dict(images=numbered_images(), labels=random_labels())
    args.update(kwargs)
    with pytest.raises(HpaError, match=f"^{name}:"):
        BatchLoader(**args)


def test_bad_epoch_and_stats_arguments():
    loader = BatchLoader(numbered_images(), random_labels())
    with pytest.raises(HpaError, match="^epoch:"):
        loader.set_epoch(-1)
    with pytest.raises(HpaError, match="^indices:"):
        channel_stats(numbered_images(), [])
    with pytest.raises(HpaError, match="^max_samples:"):
        channel_stats(numbered_images(), max_samples=0)

"""Tests for hpa.data.cache.build and hpa.data.cache.format: build, reuse, resume, rebuild and skip unreadable samples."""
import errno
import json
import logging
import os

import numpy as np
import pytest
from PIL import Image

from hpa.data.cache.build import build_cache
from hpa.data.cache.format import open_cache, source_fingerprint
from hpa.data.reading.dataset import open_dataset
from hpa.data.reading.imageio import resize_area
from hpa.data.reading.labels import CHANNELS
from hpa.runtime.errors import HpaError

SIDE = 32
N = 10


def write_dataset(folder, rng, n=N, side=SIDE):
    """A Kaggle-style folder (train.csv + train/) of ``n`` random samples."""
    os.makedirs(folder / "train", exist_ok=True)
    rows = []
    for k in range(n):
        sample_id = f"s{k:02d}"
        rows.append(f"{sample_id},{k % 28}")
        for channel, plane in zip(CHANNELS, rng.integers(0, 256, size=(4, side, side), dtype=np.uint8)):
            Image.fromarray(plane).save(folder / "train" / f"{sample_id}_{channel}.png")
    (folder / "train.csv").write_text("Id,Target\n" + "\n".join(rows) + "\n")


def truncate(path):
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])


def expected(dataset, size):
    return np.stack([resize_area(dataset.read(i), size) for i in range(len(dataset))])


@pytest.fixture
def data_dir(tmp_path):
    write_dataset(tmp_path / "data", np.random.default_rng(2))
    return tmp_path / "data"


@pytest.fixture
def cache_dir(tmp_path):
    return tmp_path / "cache"


def test_build_matches_direct_resize(data_dir, cache_dir):
    ds = open_dataset(data_dir)
    cache = build_cache(ds, 8, cache_dir, workers=1, progress=False)
    assert len(cache) == N and cache.size == 8 and cache.ids == ds.ids
    assert cache.images.dtype == np.uint8 and cache.images.shape == (N, 4, 8, 8)
    assert isinstance(cache.images, np.memmap) and not cache.images.flags.writeable
    np.testing.assert_array_equal(cache.images, expected(ds, 8))
    np.testing.assert_array_equal(cache.labels, ds.labels)
    assert sorted(os.listdir(cache_dir)) == ["build_8.lock", "images_8.npy", "manifest_8.json"]
    manifest = json.loads((cache_dir / "manifest_8.json").read_text())
    assert manifest["complete"] is True and manifest["source"]["path"].endswith("train.csv")
    reopened = open_cache(cache_dir)
    np.testing.assert_array_equal(reopened.images, cache.images)
    assert reopened.ids == ds.ids


def test_parallel_build_matches_and_sizes_coexist(data_dir, cache_dir):
    ds = open_dataset(data_dir)
    serial = build_cache(ds, 16, cache_dir, workers=1, progress=False)
    parallel = build_cache(ds, 8, cache_dir, workers=2, chunk_size=3, progress=False)
    np.testing.assert_array_equal(parallel.images, expected(ds, 8))
    assert open_cache(cache_dir, 16).images.shape == serial.images.shape
    with pytest.raises(HpaError, match="sizes 8, 16; pass size="):
        open_cache(cache_dir)


def test_unlabelled_dataset(data_dir, cache_dir):
    ds = open_dataset(data_dir / "train", split="test")
    cache = build_cache(ds, 8, cache_dir, workers=1, progress=False)
    assert cache.labels is None and len(cache) == N


def test_reused_without_reading_images(data_dir, cache_dir):
    ds = open_dataset(data_dir)
    first = build_cache(ds, 8, cache_dir, workers=1, progress=False)
    for name in os.listdir(data_dir / "train"):
        os.remove(data_dir / "train" / name)
    again = build_cache(ds, 8, cache_dir, workers=1, progress=False)
    np.testing.assert_array_equal(again.images, first.images)


def test_interrupted_build_resumes(data_dir, cache_dir):
    ds = open_dataset(data_dir)
    want = expected(ds, 8)
    # A broken sample 5 stops the build after chunks [0,2) and [2,4).
    bad = ds.image_files(5)[2]
    good_bytes = open(bad, "rb").read()
    truncate(bad)
    with pytest.raises(HpaError, match=r"s05_blue\.png: unreadable image"):
        build_cache(ds, 8, cache_dir, workers=1, chunk_size=2, progress=False)
    with pytest.raises(HpaError, match="incomplete .* resume"):
        open_cache(cache_dir)
    assert not (cache_dir / "manifest_8.json").exists()
    assert json.loads((cache_dir / "progress_8.json").read_text())["done"] == [0, 1]

    # Repair the file; remove the images of finished chunks to prove that
    # the resumed build does not read them again.
    with open(bad, "wb") as f:
        f.write(good_bytes)
    for i in range(4):
        for path in ds.image_files(i):
            os.remove(path)
    cache = build_cache(ds, 8, cache_dir, workers=2, chunk_size=5, progress=False)
    np.testing.assert_array_equal(cache.images, want)
    assert not (cache_dir / "progress_8.json").exists()


def test_rebuilt_when_source_changes(data_dir, cache_dir):
    ds = open_dataset(data_dir)
    build_cache(ds, 8, cache_dir, workers=1, progress=False)
    # New labels and new pixels for sample 0.
    csv = data_dir / "train.csv"
    csv.write_text(csv.read_text().replace("s00,0", "s00,5 7"))
    Image.fromarray(np.full((SIDE, SIDE), 200, np.uint8)).save(ds.image_files(0)[0])
    changed = open_dataset(data_dir)
    cache = build_cache(changed, 8, cache_dir, workers=1, progress=False)
    assert np.flatnonzero(cache.labels[0]).tolist() == [5, 7]
    assert (cache.images[0, 0] == 200).all()
    np.testing.assert_array_equal(cache.images, expected(changed, 8))


def test_failed_rebuild_never_leaves_old_cache_looking_complete(data_dir, cache_dir):
    build_cache(open_dataset(data_dir), 8, cache_dir, workers=1, progress=False)
    csv = data_dir / "train.csv"
    csv.write_text(csv.read_text().replace("s09,9", "s09,10"))
    changed = open_dataset(data_dir)
    truncate(changed.image_files(3)[0])
    with pytest.raises(HpaError, match=r"s03_red\.png"):
        build_cache(changed, 8, cache_dir, workers=1, chunk_size=2, progress=False)
    with pytest.raises(HpaError, match="incomplete"):
        open_cache(cache_dir, 8)


def test_skip_bad_excludes_unreadable_samples(data_dir, cache_dir, caplog):
    ds = open_dataset(data_dir)
    truncate(ds.image_files(3)[1])
    with open(ds.image_files(7)[0], "w") as f:
        f.write("not a png")
    keep = [i for i in range(N) if i not in (3, 7)]
    want = np.stack([resize_area(ds.read(i), 8) for i in keep])
    with caplog.at_level(logging.WARNING, logger="hpa.data.cache.build"):
        cache = build_cache(ds, 8, cache_dir, workers=2, chunk_size=2, skip_bad=True, progress=False)
    assert cache.ids == [ds.ids[i] for i in keep]
    np.testing.assert_array_equal(cache.images, want)
    np.testing.assert_array_equal(cache.labels, ds.labels[keep])
    assert [sample_id for sample_id, _ in cache.skipped] == ["s03", "s07"]
    assert "s03_green.png: unreadable image" in cache.skipped[0][1]
    [record] = caplog.records
    assert "skipped 2 of 10 samples" in record.getMessage() and "s03, s07" in record.getMessage()
    assert open_cache(cache_dir).ids == cache.ids


def test_non_multiple_size_uses_box_resize(data_dir, cache_dir):
    ds = open_dataset(data_dir)
    cache = build_cache(ds, 12, cache_dir, workers=1, progress=False)
    np.testing.assert_array_equal(cache.images, expected(ds, 12))


def test_open_cache_errors(tmp_path, data_dir, cache_dir):
    with pytest.raises(HpaError, match="no such cache folder"):
        open_cache(tmp_path / "absent")
    os.makedirs(cache_dir)
    with pytest.raises(HpaError, match="no image cache found"):
        open_cache(cache_dir)
    build_cache(open_dataset(data_dir), 8, cache_dir, workers=1, progress=False)
    (cache_dir / "manifest_8.json").write_text("{not json")
    with pytest.raises(HpaError, match=r"manifest_8\.json: unreadable cache manifest"):
        open_cache(cache_dir)
    with pytest.raises(HpaError, match="cache size must be a positive integer"):
        build_cache(open_dataset(data_dir), 0, cache_dir)


def test_full_disk_is_reported_before_building(data_dir, cache_dir, monkeypatch):
    """Too little free space, or blocks that cannot be reserved: one error naming the folder and size."""
    import shutil as shutil_module

    from hpa.data.cache import disk_space
    ds = open_dataset(data_dir)
    usage = shutil_module.disk_usage(data_dir.parent)
    monkeypatch.setattr(disk_space.shutil, "disk_usage", lambda path: usage._replace(free=1000))
    with pytest.raises(HpaError, match=rf"not enough free space in {cache_dir}: the size-8 image cache "
                                       rf"needs 2,560 bytes .*1,000 bytes are free"):
        build_cache(ds, 8, cache_dir, workers=1, progress=False)
    monkeypatch.undo()

    def no_space(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(disk_space.os, "posix_fallocate", no_space, raising=False)
    with pytest.raises(HpaError, match=rf"not enough free space in {cache_dir}: .* needs 2,688 bytes"):
        build_cache(ds, 8, cache_dir, workers=1, progress=False)


def test_symlinks_planted_at_cache_paths_are_replaced_not_followed(data_dir, cache_dir, tmp_path):
    # Someone who can guess the cache's file names (a shared /tmp HPA_CACHE)
    # links them to a file of the user's: building must leave that file as it was.
    ds = open_dataset(data_dir)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    cache_dir.mkdir()
    for name in ("images_8.npy", "manifest_8.json", "progress_8.json"):
        os.symlink(victim, cache_dir / name)
    cache = build_cache(ds, 8, cache_dir, workers=2, chunk_size=3, progress=False)
    assert victim.read_text() == "precious\n"
    np.testing.assert_array_equal(cache.images, expected(ds, 8))
    assert not any(os.path.islink(cache_dir / name) for name in os.listdir(cache_dir))

    # A link where an interrupted build left its images file is not resumed through.
    (cache_dir / "manifest_8.json").unlink()
    state = {"fingerprint": source_fingerprint(ds), "size": 8, "chunk_size": 3, "done": [], "bad": []}
    (cache_dir / "progress_8.json").write_text(json.dumps(state))
    os.replace(cache_dir / "images_8.npy", victim)  # the target even holds a matching array
    before = victim.read_bytes()
    os.symlink(victim, cache_dir / "images_8.npy")
    build_cache(ds, 8, cache_dir, workers=1, progress=False)
    assert victim.read_bytes() == before and not os.path.islink(cache_dir / "images_8.npy")


def test_a_symlink_at_the_lock_path_is_refused(data_dir, cache_dir, tmp_path):
    cache_dir.mkdir()
    os.symlink(tmp_path / "not-yet-there", cache_dir / "build_8.lock")
    with pytest.raises(HpaError, match=r"build_8\.lock is a symbolic link"):
        build_cache(open_dataset(data_dir), 8, cache_dir, workers=1, progress=False)
    assert not (tmp_path / "not-yet-there").exists()

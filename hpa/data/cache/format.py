"""The on-disk format of an image cache, and opening a complete one.

A cache holds a dataset's images decoded and resized to S x S, so that
training reads one memory-mapped array instead of 4 PNGs per sample:

    cache_dir/images_<S>.npy      uint8 (N, 4, S, S), read through a memmap
    cache_dir/manifest_<S>.json   Ids, labels, source fingerprint; its
                                  presence means "this cache is complete"
    cache_dir/progress_<S>.json   only while building: finished chunks
    cache_dir/build_<S>.lock      locked while a process builds (see cache_lock);
                                  kept, since deleting a lock file races with
                                  a process about to lock it

Several sizes can share one folder. :mod:`hpa.data.cache.build` builds caches;
this module names their files, writes and reads the manifest, and opens a
complete cache read-only.

The fingerprint compares the image folder, file extension, number of samples
and a hash of the Ids and labels: a changed CSV or a different set of files
triggers a rebuild, whereas touching or copying the CSV does not. Changed
pixels under unchanged file names are not detected.
"""
import hashlib
import json
import os
from dataclasses import dataclass, field

import numpy as np

from hpa.data.reading.dataset import Samples
from hpa.data.reading.labels import CHANNELS, multihot_to_target, targets_to_matrix
from hpa.runtime.errors import HpaError
from minidl.atomic import atomic_write_text

FORMAT_VERSION = 1


@dataclass
class ImageCache(Samples):
    """A complete cache opened read-only.

    images   uint8 (N, 4, S, S) memmap, channels red, green, blue, yellow;
             ``images[i]`` is sample ``ids[i]``
    size     S
    path     the cache folder
    ids, labels, skipped  as in :class:`~hpa.data.reading.dataset.Samples`
             (``skipped``: samples left out because they were unreadable)
    """

    images: np.ndarray = field(repr=False)
    size: int
    path: str


def cache_files(cache_dir, size):
    """(images, manifest, progress) paths of the size-``size`` cache."""
    return tuple(os.path.join(cache_dir, f"{stem}_{size}.{ext}")
                 for stem, ext in (("images", "npy"), ("manifest", "json"), ("progress", "json")))


def source_fingerprint(dataset):
    """What must match for a cache to be reused for ``dataset`` (a dict)."""
    digest = hashlib.sha1()
    digest.update("\n".join(dataset.ids).encode("utf-8"))
    if dataset.labels is not None:
        digest.update(np.ascontiguousarray(dataset.labels).tobytes())
    return {
        "root": os.path.abspath(dataset.root),
        "ext": dataset.ext,
        "samples": len(dataset),
        "sha1": digest.hexdigest(),
    }


def _source_info(dataset):
    """Where the Ids came from, recorded in the manifest for people to read."""
    st = os.stat(dataset.source)
    return {"path": os.path.abspath(dataset.source), "bytes": st.st_size,
            "mtime": st.st_mtime, "layout": dataset.layout}


def write_manifest(dataset, size, cache_dir, fingerprint, keep, skipped):
    """Mark the size-``size`` cache complete: write its manifest, atomically.

    keep     indices into ``dataset`` of the rows the images file holds
    skipped  (Id, reason) of the samples left out
    """
    images_path, manifest_path, _ = cache_files(cache_dir, size)
    labels = None
    if dataset.labels is not None:
        labels = [multihot_to_target(dataset.labels[i]) for i in keep]
    manifest = {
        "format": FORMAT_VERSION,
        "complete": True,
        "size": size,
        "samples": len(keep),
        "images": os.path.basename(images_path),
        "fingerprint": fingerprint,
        "source": _source_info(dataset),
        "ids": [dataset.ids[i] for i in keep],
        "labels": labels,
        "skipped": skipped,
    }
    atomic_write_text(manifest_path, json.dumps(manifest))


def open_cache(cache_dir, size=None):
    """Open a complete cache read-only -> :class:`ImageCache`.

    ``size`` picks among several sizes in one folder; it may be left out
    when the folder holds only one.
    """
    cache_dir = os.fspath(cache_dir)
    if size is None:
        size = _only_size(cache_dir)
    images_path, manifest_path, progress_path = cache_files(cache_dir, size)
    if not os.path.exists(manifest_path):
        if os.path.exists(progress_path):
            raise HpaError(f"{cache_dir}: the size-{size} cache is incomplete (its build was "
                           f"interrupted); run build_cache again to resume it")
        raise HpaError(f"{cache_dir}: no size-{size} cache ({os.path.basename(manifest_path)} missing)")
    try:
        with open(manifest_path, encoding="utf-8") as f:
            manifest = json.load(f)
        complete = manifest["complete"] is True and manifest["format"] == FORMAT_VERSION
        n, ids, targets = manifest["samples"], manifest["ids"], manifest["labels"]
        skipped = [tuple(pair) for pair in manifest["skipped"]]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise HpaError(f"{manifest_path}: unreadable cache manifest ({err})") from None
    if not complete:
        raise HpaError(f"{manifest_path}: cache is not marked complete (or has an unknown format)")
    try:
        images = np.load(images_path, mmap_mode="r")
    except (OSError, ValueError) as err:
        raise HpaError(f"{images_path}: unreadable cache images ({err})") from None
    expected = (n, len(CHANNELS), size, size)
    if images.shape != expected or images.dtype != np.uint8 or len(ids) != n:
        raise HpaError(f"{images_path}: holds {images.dtype} {images.shape}, manifest says uint8 {expected}")
    labels = None if targets is None else targets_to_matrix(targets, where=f"{manifest_path} sample")
    return ImageCache(images, size, cache_dir, ids=ids, labels=labels, skipped=skipped)


def _only_size(cache_dir):
    """The size of the one cache (complete or not) in ``cache_dir``."""
    try:
        names = os.listdir(cache_dir)
    except OSError:
        raise HpaError(f"{cache_dir}: no such cache folder") from None
    sizes = set()
    for name in names:
        stem, _, rest = name.partition("_")
        number = rest.removesuffix(".json")
        if stem in ("manifest", "progress") and number != rest and number.isdigit():
            sizes.add(int(number))
    if not sizes:
        raise HpaError(f"{cache_dir}: no image cache found")
    if len(sizes) > 1:
        raise HpaError(f"{cache_dir}: holds caches of sizes {', '.join(map(str, sorted(sizes)))}; pass size=")
    return sizes.pop()

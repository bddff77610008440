"""A resized copy of a dataset's images in one memory-mapped ``.npy`` file.

Decoding 4 PNGs per sample every epoch is far slower than training on small
images, so each sample is decoded once, shrunk by area averaging and stored:

    cache_dir/images_<S>.npy      uint8 (N, 4, S, S), read through a memmap
    cache_dir/manifest_<S>.json   Ids, labels, source fingerprint; its
                                  presence means "this cache is complete"
    cache_dir/progress_<S>.json   only while building: finished chunks

Several sizes can share one folder.

Building is split into chunks of consecutive samples, filled by a pool of
worker processes that write straight into the ``.npy`` memmap. After a
chunk's rows are flushed to disk, the parent records the chunk in the
progress file (rewritten atomically), so an interrupted build resumes with
the chunks it had not finished. The manifest is written atomically and
last, and any stale one is deleted before building starts, so a crash never
leaves a cache that looks complete.

With ``skip_bad``, a sample whose image cannot be decoded is zero-filled
while building and reported; when the build ends the file is rewritten
without those rows, so ``images[i]`` always belongs to ``ids[i]``. The copy
only happens when something was skipped.

The fingerprint compares the image folder, file extension, number of samples
and a hash of the Ids and labels: a changed CSV or a different set of files
triggers a rebuild, whereas touching or copying the CSV does not. Changed
pixels under unchanged file names are not detected. Two processes must not
build the same cache at once.
"""
import hashlib
import json
import logging
import math
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from hpa.data.dataset import format_ids
from hpa.data.imageio import resize_area
from hpa.data.labels import CHANNELS, multihot_to_target, targets_to_matrix
from hpa.errors import HpaError
from minidl.atomic import atomic_path, atomic_write_text

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
# Upper bound on samples per chunk: seconds of work, so an
# interruption loses little and the progress file is rewritten rarely.
MAX_CHUNK = 64


@dataclass
class ImageCache:
    """A complete cache opened read-only.

    images   uint8 (N, 4, S, S) memmap, channels red, green, blue, yellow
    ids      N sample Ids, ``ids[i]`` is ``images[i]``
    labels   uint8 (N, 28) multi-hot, or None for unlabelled data
    size     S
    path     the cache folder
    skipped  (Id, reason) of samples left out because they were unreadable
    """

    images: np.ndarray = field(repr=False)
    ids: list = field(repr=False)
    labels: np.ndarray = field(repr=False)
    size: int
    path: str
    skipped: list = field(default_factory=list, repr=False)

    def __len__(self):
        return len(self.ids)


def _files(cache_dir, size):
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


def build_cache(dataset, size, cache_dir, workers=None, skip_bad=False, progress=True,
                chunk_size=None):
    """Build (or reuse, or resume) the size-``size`` cache of ``dataset``.

    dataset     a :class:`hpa.data.dataset.Dataset`
    size        side S of the stored images, uint8 (N, 4, S, S)
    workers     processes to decode with; default ``os.cpu_count()``;
                1 decodes in this process
    skip_bad    leave out (and report) samples whose images are unreadable
                instead of raising :class:`HpaError`
    progress    show a tqdm progress bar
    chunk_size  samples per chunk, the unit of resumption; default chosen
                from N and ``workers``; a resumed build keeps its own

    Returns the :class:`ImageCache`. A complete cache with the same size and
    fingerprint is returned as is; a stale one is rebuilt.
    """
    if not isinstance(size, int) or size < 1:
        raise HpaError(f"cache size must be a positive integer, got {size!r}")
    if len(dataset) == 0:
        raise HpaError(f"no samples to cache from {dataset.source}")
    cache_dir = os.fspath(cache_dir)
    os.makedirs(cache_dir, exist_ok=True)
    images_path, manifest_path, progress_path = _files(cache_dir, size)
    fingerprint = source_fingerprint(dataset)

    reusable = _reusable(cache_dir, size, manifest_path, fingerprint)
    if reusable is not None:
        return reusable
    if os.path.exists(manifest_path):
        # Delete the stale manifest first: from here on the folder must not
        # claim to hold a complete cache.
        os.remove(manifest_path)

    workers = max(1, workers or os.cpu_count() or 1)
    state = _resume_state(progress_path, images_path, size, fingerprint)
    if state is None:
        chunk = chunk_size or max(1, min(MAX_CHUNK, math.ceil(len(dataset) / (8 * workers))))
        state = {"fingerprint": fingerprint, "size": size, "chunk_size": chunk, "done": [], "bad": []}
        if os.path.exists(progress_path):
            os.remove(progress_path)
        np.lib.format.open_memmap(images_path, mode="w+", dtype=np.uint8,
                                  shape=(len(dataset), len(CHANNELS), size, size)).flush()
        atomic_write_text(progress_path, json.dumps(state))
    else:
        log.info("resuming cache build in %s: %d chunks already done", cache_dir, len(state["done"]))

    _fill(dataset, size, images_path, progress_path, state, workers, skip_bad, progress)
    return _finish(dataset, size, cache_dir, state)


def _reusable(cache_dir, size, manifest_path, fingerprint):
    """The existing cache if it is complete and matches, else None."""
    try:
        with open(manifest_path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return None
    if manifest.get("fingerprint") != fingerprint:
        log.info("rebuilding cache %s: source changed", manifest_path)
        return None
    try:
        return open_cache(cache_dir, size)
    except HpaError as err:
        log.info("rebuilding cache: %s", err)
        return None


def _resume_state(progress_path, images_path, size, fingerprint):
    """The progress record of an interrupted build of the same cache, or None."""
    try:
        with open(progress_path, encoding="utf-8") as f:
            state = json.load(f)
        images = np.load(images_path, mmap_mode="r")
    except (OSError, ValueError):
        return None
    expected = (fingerprint["samples"], len(CHANNELS), size, size)
    if state.get("fingerprint") != fingerprint or state.get("size") != size or images.shape != expected:
        return None
    return state


def _fill(dataset, size, images_path, progress_path, state, workers, skip_bad, progress):
    """Fill every chunk not yet in ``state["done"]``, recording each as it ends."""
    n, chunk = len(dataset), state["chunk_size"]
    done = set(state["done"])
    todo = [(start, min(n, start + chunk)) for start in range(0, n, chunk) if start // chunk not in done]
    finished = n - sum(stop - start for start, stop in todo)
    with tqdm(total=n, initial=finished, disable=not progress, unit="sample",
              desc=f"caching {size}px") as bar:

        def record(start, stop, bad):
            state["done"].append(start // chunk)
            state["bad"].extend(bad)
            atomic_write_text(progress_path, json.dumps(state))
            bar.update(stop - start)

        args = (dataset, images_path, size, skip_bad)
        if workers == 1 or len(todo) <= 1:
            filler = _ChunkFiller(*args)
            for start, stop in todo:
                record(start, stop, filler(start, stop))
            return
        pool = ProcessPoolExecutor(min(workers, len(todo)), initializer=_init_worker, initargs=args)
        try:
            futures = {pool.submit(_fill_chunk, start, stop): (start, stop) for start, stop in todo}
            for future in as_completed(futures):
                record(*futures[future], future.result())
        finally:
            # On an error, drop the queued chunks; running ones finish but
            # are not recorded, so a resumed build redoes them.
            pool.shutdown(wait=True, cancel_futures=True)


class _ChunkFiller:
    """Decodes, resizes and stores samples [start, stop) into the images file."""

    def __init__(self, dataset, images_path, size, skip_bad):
        self.dataset, self.images_path = dataset, images_path
        self.size, self.skip_bad = size, skip_bad

    def __call__(self, start, stop):
        """Fill rows start..stop-1; return [(index, reason)] of unreadable samples."""
        images = np.load(self.images_path, mmap_mode="r+")
        bad = []
        for i in range(start, stop):
            try:
                images[i] = resize_area(self.dataset.read(i), self.size)
            except HpaError as err:
                if not self.skip_bad:
                    raise
                images[i] = 0
                bad.append((i, str(err)))
        # The rows must be on disk before the parent marks the chunk done.
        images.flush()
        return bad


_worker_filler = None


def _init_worker(*args):
    """Pool initializer: unpickle the dataset once per worker, not per chunk."""
    global _worker_filler
    _worker_filler = _ChunkFiller(*args)


def _fill_chunk(start, stop):
    return _worker_filler(start, stop)


def _finish(dataset, size, cache_dir, state):
    """Drop unreadable rows, write the manifest, remove the progress record."""
    images_path, manifest_path, progress_path = _files(cache_dir, size)
    bad = dict((i, reason) for i, reason in state["bad"])
    keep = [i for i in range(len(dataset)) if i not in bad]
    if not keep:
        raise HpaError(f"no readable samples in {dataset.root}: all {len(dataset)} failed, "
                       f"e.g. {next(iter(bad.values()))}")
    skipped = [(dataset.ids[i], bad[i]) for i in sorted(bad)]
    if skipped:
        _drop_rows(images_path, keep)
        log.warning("skipped %d of %d samples with unreadable images: %s",
                    len(skipped), len(dataset), format_ids(skipped))
    labels = None
    if dataset.labels is not None:
        labels = [multihot_to_target(dataset.labels[i]) for i in keep]
    manifest = {
        "format": FORMAT_VERSION,
        "complete": True,
        "size": size,
        "samples": len(keep),
        "images": os.path.basename(images_path),
        "fingerprint": state["fingerprint"],
        "source": _source_info(dataset),
        "ids": [dataset.ids[i] for i in keep],
        "labels": labels,
        "skipped": skipped,
    }
    atomic_write_text(manifest_path, json.dumps(manifest))
    os.remove(progress_path)
    return open_cache(cache_dir, size)


def _drop_rows(images_path, keep):
    """Rewrite the images file with only the rows ``keep`` (sorted indices)."""
    with atomic_path(images_path) as tmp:
        source = np.load(images_path, mmap_mode="r")
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8,
                                        shape=(len(keep),) + source.shape[1:])
        for lo in range(0, len(keep), 256):
            # Copy in slices so memory stays bounded for any N.
            out[lo:lo + 256] = source[keep[lo:lo + 256]]
        out.flush()
        # Both maps must be closed before the file is replaced (Windows).
        del out, source


def open_cache(cache_dir, size=None):
    """Open a complete cache read-only -> :class:`ImageCache`.

    ``size`` picks among several sizes in one folder; it may be left out
    when the folder holds only one.
    """
    cache_dir = os.fspath(cache_dir)
    if size is None:
        size = _only_size(cache_dir)
    images_path, manifest_path, progress_path = _files(cache_dir, size)
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
    return ImageCache(images, ids, labels, size, cache_dir, skipped)


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

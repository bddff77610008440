"""Build a dataset's image cache (see :mod:`hpa.data.cache.format`), resumably and in parallel.

Each sample is decoded once, shrunk by area averaging and stored in the
cache's ``.npy`` file.

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

The build holds a file lock (:mod:`hpa.data.cache.lock`): a second process
asking for the same cache waits, then uses the finished one. The images
file's space is reserved before any row is written
(:mod:`hpa.data.cache.disk_space`). Worker processes exit with their parent,
however it ends, and ignore Ctrl-C and SIGTERM, which the parent handles
by shutting the pool down (:mod:`hpa.runtime.worker_pool`).
"""
import contextlib
import functools
import json
import logging
import math
import os
import stat

import numpy as np
from tqdm import tqdm

from hpa.data.cache.disk_space import create_npy, reserve
from hpa.data.cache.format import cache_files, open_cache, source_fingerprint, write_manifest
from hpa.data.cache.lock import cache_build_lock
from hpa.data.reading.dataset import format_ids
from hpa.data.reading.imageio import resize_area
from hpa.data.reading.labels import CHANNELS
from hpa.runtime.errors import HpaError
from hpa.runtime.worker_pool import unordered_results
from minidl.atomic import atomic_path, atomic_write_text

log = logging.getLogger(__name__)

# Upper bound on samples per chunk: seconds of work, so an
# interruption loses little and the progress file is rewritten rarely.
MAX_CHUNK = 64


def build_cache(dataset, size, cache_dir, workers=None, skip_bad=False, progress=True,
                chunk_size=None):
    """Build (or reuse, or resume) the size-``size`` cache of ``dataset``.

    dataset     a :class:`hpa.data.reading.dataset.Dataset`
    size        side S of the stored images, uint8 (N, 4, S, S)
    workers     processes to decode with; default ``os.cpu_count()``;
                1 decodes in this process
    skip_bad    leave out (and report) samples whose images are unreadable
                instead of raising :class:`HpaError`
    progress    show a tqdm progress bar
    chunk_size  samples per chunk, the unit of resumption; default chosen
                from N and ``workers``; a resumed build keeps its own

    Returns the :class:`~hpa.data.cache.format.ImageCache`. A complete cache with the same size and
    fingerprint is returned as is; a stale one is rebuilt.
    """
    if not isinstance(size, int) or size < 1:
        raise HpaError(f"cache size must be a positive integer, got {size!r}")
    if len(dataset) == 0:
        raise HpaError(f"no samples to cache from {dataset.source}")
    cache_dir = os.fspath(cache_dir)
    os.makedirs(cache_dir, exist_ok=True)
    with cache_build_lock(cache_dir, size):
        return _build(dataset, size, cache_dir, workers, skip_bad, progress, chunk_size)


def _build(dataset, size, cache_dir, workers, skip_bad, progress, chunk_size):
    """:func:`build_cache` under the build lock."""
    images_path, manifest_path, progress_path = cache_files(cache_dir, size)
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
        _new_images_file(images_path, (len(dataset), len(CHANNELS), size, size), f"the size-{size} image cache")
        atomic_write_text(progress_path, json.dumps(state))
    else:
        log.info("resuming cache build in %s: %d chunks already done", cache_dir, len(state["done"]))
        reserve(images_path, f"the size-{size} image cache")

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


def _new_images_file(images_path, shape, what):
    """Create the images file, uint8 ``shape``, as a temporary file renamed into place.

    Whatever was at the path (a stale cache, or a symbolic link planted in
    a shared folder such as /tmp) is replaced, never opened: a link goes,
    its target stays untouched. The old file is removed first, so that its
    space counts as free.
    """
    with contextlib.suppress(FileNotFoundError):
        os.remove(images_path)
    with atomic_path(images_path) as tmp:
        create_npy(tmp, np.uint8, shape, what)


def _resume_state(progress_path, images_path, size, fingerprint):
    """The progress record of an interrupted build of the same cache, or None."""
    if not _regular_file(images_path):  # only a file this process made is written through
        return None
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


def _regular_file(path):
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _fill(dataset, size, images_path, progress_path, state, workers, skip_bad, progress):
    """Fill every chunk not yet in ``state["done"]``, recording each as it ends."""
    n, chunk = len(dataset), state["chunk_size"]
    done = set(state["done"])
    todo = [(start, min(n, start + chunk)) for start in range(0, n, chunk) if start // chunk not in done]
    finished = n - sum(stop - start for start, stop in todo)
    bar = functools.partial(tqdm, total=n, initial=finished, disable=not progress, unit="sample",
                            desc=f"caching {size}px")

    def record(start, stop, bad):
        state["done"].append(start // chunk)
        state["bad"].extend(bad)
        atomic_write_text(progress_path, json.dumps(state))
        progress_bar.update(stop - start)

    args = (dataset, images_path, size, skip_bad)
    if workers == 1 or len(todo) <= 1:
        filler = _ChunkFiller(*args)
        with bar() as progress_bar:
            for start, stop in todo:
                record(start, stop, filler(start, stop))
        return
    # On an error or a stop, queued chunks are dropped and running ones
    # killed, unrecorded: a resumed build redoes them. The workers are
    # forked before the progress bar's thread starts.
    with unordered_results(_fill_chunk, todo, workers, _init_worker, args) as results, bar() as progress_bar:
        for (start, stop), bad in results:
            record(start, stop, bad)


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
    """Worker initializer: unpickle the dataset once per worker, not per chunk."""
    global _worker_filler
    _worker_filler = _ChunkFiller(*args)


def _fill_chunk(start, stop):
    return _worker_filler(start, stop)


def _finish(dataset, size, cache_dir, state):
    """Drop unreadable rows, write the manifest, remove the progress record."""
    images_path, _, progress_path = cache_files(cache_dir, size)
    bad = dict(state["bad"])
    keep = [i for i in range(len(dataset)) if i not in bad]
    if not keep:
        raise HpaError(f"no readable samples in {dataset.root}: all {len(dataset)} failed, "
                       f"e.g. {next(iter(bad.values()))}")
    skipped = [(dataset.ids[i], bad[i]) for i in sorted(bad)]
    if skipped:
        _drop_rows(images_path, keep)
        log.warning("skipped %d of %d samples with unreadable images: %s",
                    len(skipped), len(dataset), format_ids(skipped))
    write_manifest(dataset, size, cache_dir, state["fingerprint"], keep, skipped)
    os.remove(progress_path)
    return open_cache(cache_dir, size)


def _drop_rows(images_path, keep):
    """Rewrite the images file with only the rows ``keep`` (sorted indices)."""
    with atomic_path(images_path) as tmp:
        source = np.load(images_path, mmap_mode="r")
        create_npy(tmp, np.uint8, (len(keep),) + source.shape[1:], "the cache without unreadable samples")
        out = np.load(tmp, mmap_mode="r+")
        for lo in range(0, len(keep), 256):
            # Copy in slices so memory stays bounded for any N.
            out[lo:lo + 256] = source[keep[lo:lo + 256]]
        out.flush()
        # Both maps must be closed before the file is replaced (Windows).
        del out, source

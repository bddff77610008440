"""The built-in synthetic HPA-like data set, written in the Kaggle layout.

When the user gives no data, the project trains on this set. It is written
exactly like the competition's files, so the default run exercises the same
reading path as real data::

    DIR/train.csv                              Id,Target
    DIR/train/<Id>_{red,green,blue,yellow}.png 8-bit grayscale, size x size

Each sample is a field of cultured cells (see :mod:`hpa.synthesis.cells`)
with reference stains for nuclei, microtubules and ER
(:mod:`hpa.synthesis.stains`) and a green protein channel drawn from its
labels (:mod:`hpa.synthesis.patterns`). Labels follow the real class
frequencies and co-occurrences (:mod:`hpa.synthesis.label_stats`).

Sample ``i`` is drawn from its own random stream seeded by ``(seed, i)``, so
the output depends on ``seed`` only, never on the number of workers.

Interrupted runs: every file is written atomically (:mod:`minidl.atomic`),
and ``train.csv`` last. A folder with ``train.csv`` is
complete; without it, running again keeps the finished images and draws the
rest. A hidden ``.synthetic.json`` records the parameters, so a folder made
with other parameters is redrawn, and a folder holding someone else's data
is never overwritten.

The command is ``python -m hpa.synthetic`` (:mod:`hpa.synthetic`).
"""
import functools
import json
import os
import pathlib
import struct
import uuid
import zlib
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from hpa.data.reading.labels import CHANNELS, multihot_to_target
from hpa.runtime.errors import HpaError
from hpa.runtime.worker_pool import unordered_results
from hpa.synthesis.cells import Cells
from hpa.synthesis.fields import Spots, smooth_field
from hpa.synthesis.label_stats import sample_label_sets
from hpa.synthesis.patterns import PATTERNS
from hpa.synthesis.stains import reference_stains
from minidl.atomic import atomic_path, atomic_write_text

MARKER = ".synthetic.json"
# Bump when the images change, so old folders are redrawn rather than reused.
VERSION = 1
MIN_SIZE = 32


@dataclass
class Scene:
    """What a green pattern generator may use (see hpa.synthesis.patterns)."""

    cells: Cells
    stains: dict
    spots: Spots
    rng: np.random.Generator


# ---------------------------------------------------------------- drawing
def render_sample(classes, size, rng):
    """Draw one sample with the given class numbers -> uint8 (4, size, size).

    Channels are in :data:`hpa.data.reading.labels.CHANNELS` order: red (microtubules),
    green (protein), blue (nucleus), yellow (ER).
    """
    classes = list(classes)
    cells = Cells(rng, size, mitotic=17 in classes, division=16 in classes)
    stains = reference_stains(cells)
    scene = Scene(cells, stains, Spots(size), rng)
    green = np.zeros((size, size), dtype=np.float32)
    for c in classes:
        strength = rng.uniform(0.6, 1.0)
        scene.spots.gain = strength
        green += strength * PATTERNS[c](scene)
    green += scene.spots.render()
    # Cells express the protein unevenly; a few hardly at all.
    expression = np.exp(rng.normal(0.0, 0.35, cells.count))
    expression[rng.random(cells.count) < 0.08] *= 0.15
    green *= expression.astype(np.float32)[cells.label]
    # Unspecific staining that says nothing about the labels.
    green += rng.uniform(0.0, 0.08) * cells.cytoplasm + rng.uniform(0.0, 0.06) * cells.nucleus
    planes = {"red": stains["red"], "green": green, "blue": stains["blue"], "yellow": stains["yellow"]}
    return _expose(np.stack([planes[name] for name in CHANNELS]), rng)


def _expose(signal, rng):
    """Light (4, S, S) ``signal`` as a camera would record it -> uint8.

    Uneven illumination (shared by the channels: one light path), a gain per
    channel that puts the brightest structures near the top of the 8-bit
    range (dimmer and more variable for the protein, as in HPA images), dark
    offset, shot noise and read noise.
    """
    size = signal.shape[-1]
    lit = signal * smooth_field(rng, size, 3, mean=1.0, amplitude=0.2)
    # The 99.5th percentile is set to the chosen level and the brightest
    # specks saturate, as in real images. The protein may cover only a few
    # pixels (a midbody, two centrosomes), where that percentile would blow
    # up the faint background, so its reference is at least 60 % of its
    # noise-free maximum.
    sub = lit[:, ::2, ::2].reshape(4, -1)
    k = int(0.995 * (sub.shape[1] - 1))
    peak = np.partition(sub, k, axis=1)[:, k]
    green = CHANNELS.index("green")
    peak[green] = max(peak[green], 0.6 * lit[green].max())
    level = rng.uniform(0.55, 0.95, 4)
    level[green] = rng.uniform(0.35, 1.0)
    # A blank channel stays dark instead of turning its rounding errors into noise.
    scale = (255.0 * level / np.maximum(peak, 1e-3)).astype(np.float32)[:, None, None]
    value = np.maximum(lit, 0.0) * scale + rng.uniform(1.0, 5.0, (4, 1, 1)).astype(np.float32)
    shot = rng.uniform(0.05, 0.4, (4, 1, 1)).astype(np.float32)
    read = rng.uniform(0.5, 1.5, (4, 1, 1)).astype(np.float32)
    value += np.sqrt(value * shot + read * read) * _unit_noise(rng, value.shape)
    return np.clip(value + 0.5, 0, 255).astype(np.uint8)


def _unit_noise(rng, shape):
    """Zero-mean, unit-variance noise of ``shape``, float32.

    The sum of two random bytes (a triangular distribution) is close enough
    to Gaussian for camera noise and several times cheaper to draw.
    """
    n = int(np.prod(shape))
    pair = np.frombuffer(rng.bytes(2 * n), dtype=np.uint8).reshape((2,) + tuple(shape))
    # Each byte has variance (256^2 - 1) / 12; the sum has twice that.
    return (pair[0].astype(np.float32) + pair[1] - 255.0) * np.float32(1.0 / 104.51)


# ------------------------------------------------------------------ files
def sample_ids(n, seed):
    """``n`` Kaggle-style Ids (random UUIDs), the same for the same seed."""
    rng = np.random.default_rng([seed, 2])
    return [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(n)]


def png_bytes(image):
    """uint8 (H, W) -> bytes of an 8-bit grayscale PNG.

    Written directly (rows "Up"-filtered, zlib run-length mode): several
    times faster than PIL's encoder and no bigger on noisy microscopy, which
    matters for 8,000 files per data set.
    """
    h, w = image.shape
    rows = np.empty((h, w + 1), dtype=np.uint8)
    rows[:, 0] = 2  # filter type "Up": each row stored as its difference to the row above
    rows[0, 1:] = image[0]
    rows[1:, 1:] = image[1:] - image[:-1]  # uint8 arithmetic wraps modulo 256, as PNG wants

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)  # 8-bit, grayscale, no interlace
    packer = zlib.compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    data = packer.compress(rows.tobytes()) + packer.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def _channel_paths(folder, sample_id):
    return [folder / f"{sample_id}_{name}.png" for name in CHANNELS]


def _render_chunk(task):
    """Worker: draw and write samples; returns how many were handled."""
    folder, size, seed, samples = task
    folder = pathlib.Path(folder)
    for index, sample_id, classes in samples:
        paths = _channel_paths(folder, sample_id)
        if all(p.is_file() for p in paths):  # finished by an interrupted run
            continue
        image = render_sample(classes, size, np.random.default_rng([seed, 1, index]))
        for path, plane in zip(paths, image):
            with atomic_path(path) as tmp:  # never a half-written PNG
                pathlib.Path(tmp).write_bytes(png_bytes(plane))
    return len(samples)


def _worker_count(workers):
    if workers:
        return int(workers)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _prepare(out, params):
    """Decide what to do with ``out``: True if it already holds this set."""
    csv, marker, images = out / "train.csv", out / MARKER, out / "train"
    old = None
    if marker.is_file():
        try:
            old = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = {}
    if old is None and (csv.exists() or (images.is_dir() and any(images.iterdir()))):
        raise HpaError(f"{out} already holds data not made by hpa.synthetic; choose another folder")
    if old == params and csv.is_file():
        return True
    # Ours but unfinished or made differently: the CSV goes first, so an
    # interruption from here on is still seen as unfinished.
    csv.unlink(missing_ok=True)
    images.mkdir(parents=True, exist_ok=True)
    for path in images.iterdir():
        stale = path.name.startswith(".") and ".tmp" in path.suffixes  # a killed write's temp file
        if stale or (old != params and path.suffix == ".png"):
            path.unlink()
    atomic_write_text(marker, json.dumps(params, indent=1) + "\n")
    return False


def generate(out_dir, n=2000, size=256, seed=0, workers=None, progress=True):
    """Write the synthetic data set to ``out_dir`` (see the module docstring).

    Returns the folder as a :class:`pathlib.Path`. Does nothing if the folder
    already holds the finished set for these arguments; resumes an
    interrupted one. ``workers`` processes draw the images (default: one per
    available core; see :mod:`hpa.runtime.worker_pool` for how they stop).
    """
    if n < 1:
        raise HpaError(f"--n must be at least 1, got {n}")
    if size < MIN_SIZE:
        raise HpaError(f"--size must be at least {MIN_SIZE} px, got {size}")
    out = pathlib.Path(out_dir)
    params = {"generator": "hpa.synthetic", "version": VERSION, "n": n, "size": size, "seed": seed}
    if _prepare(out, params):
        return out

    labels = sample_label_sets(n, np.random.default_rng([seed, 0]))
    ids = sample_ids(n, seed)
    samples = [(i, ids[i], np.flatnonzero(labels[i]).tolist()) for i in range(n)]
    workers = max(1, min(_worker_count(workers), n))
    per_task = max(1, min(32, n // (8 * workers)))
    tasks = [(str(out / "train"), size, seed, samples[i : i + per_task]) for i in range(0, n, per_task)]
    bar = functools.partial(tqdm, total=n, disable=not progress, unit="sample", desc="synthetic data")
    if workers == 1:
        with bar() as progress_bar:
            for task in tasks:
                progress_bar.update(_render_chunk(task))
    else:
        # The workers are forked before the progress bar's thread starts:
        # forking a process that runs threads is unsafe.
        with unordered_results(_render_chunk, [(task,) for task in tasks], workers) as results, \
                bar() as progress_bar:
            for _, done in results:
                progress_bar.update(done)

    rows = [f"{ids[i]},{multihot_to_target(labels[i])}" for i in range(n)]
    atomic_write_text(out / "train.csv", "Id,Target\n" + "\n".join(rows) + "\n")
    return out

"""A Kaggle-sized training set for benchmarks, written straight into the cache format.

    folder = generated_training_set(root, samples=31072, size=512)
    # python -m hpa.train --data folder --cache-dir root ...   reuses the cache, decodes nothing

Decoding 124,288 PNGs would take the benchmark's whole time budget. Instead the
images file (:mod:`hpa.data.cache.format`) is filled from a small bank of random
images, and its manifest carries the fingerprint of a data folder whose
``train.csv`` lists the samples. The folder's channel files exist, as a data set's
must, but are empty except the first sample's (8-bit PNGs, from which the layout
is read): the training commands find the complete cache and never open the others.
"""
import os

import numpy as np
from PIL import Image

from hpa.data.cache.format import cache_files, source_fingerprint, write_manifest
from hpa.data.cache.source import cache_folder_name, cache_root
from hpa.data.reading.dataset import open_dataset
from hpa.data.reading.labels import CHANNELS, NUM_CLASSES
from minidl.atomic import atomic_write_text

BANK = 64  # distinct random images, repeated through the file
CHUNK_BYTES = 256 << 20  # written this much at a time


def generated_training_set(root, samples, size, seed=0):
    """Write a data folder and its complete size-``size`` cache under ``root``; returns the folder.

    Sample i is image ``i % 64`` of a random bank, uint8 (4, size, size), with 1
    to 3 random labels. A folder already complete for these arguments is reused.
    """
    root = os.fspath(root)
    folder = os.path.join(root, f"generated-{samples}-{size}-{seed}")
    rng = np.random.default_rng(seed)
    ids = [f"gen{i:06d}" for i in range(samples)]
    targets = [" ".join(map(str, sorted(rng.choice(NUM_CLASSES, rng.integers(1, 4), replace=False))))
               for _ in ids]
    os.makedirs(os.path.join(folder, "train"), exist_ok=True)
    for i, sample_id in enumerate(ids):
        for colour in CHANNELS:
            path = os.path.join(folder, "train", f"{sample_id}_{colour}.png")
            if i == 0:
                Image.fromarray(np.zeros((8, 8), np.uint8)).save(path)
            elif not os.path.exists(path):
                open(path, "wb").close()
    atomic_write_text(os.path.join(folder, "train.csv"),
                      "Id,Target\n" + "".join(f"{i},{t}\n" for i, t in zip(ids, targets)))
    dataset = open_dataset(folder)
    cache_dir = cache_root(root) / "images" / cache_folder_name(folder, "train")
    os.makedirs(cache_dir, exist_ok=True)
    images_path, manifest_path, _ = cache_files(cache_dir, size)
    if not os.path.exists(manifest_path):
        _write_images(images_path, samples, size, rng)
        write_manifest(dataset, size, cache_dir, source_fingerprint(dataset), range(samples), [])
    return folder


def _write_images(path, samples, size, rng):
    """uint8 (samples, 4, size, size) to ``path`` (a .npy file), sample i = bank[i % BANK]."""
    bank = rng.integers(0, 256, (BANK, len(CHANNELS), size, size), dtype=np.uint8)
    partial = path + ".partial.npy"
    images = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=(samples, *bank.shape[1:]))
    per = max(BANK, CHUNK_BYTES // bank[0].nbytes // BANK * BANK)  # a multiple of BANK
    block = np.resize(bank, (min(per, samples), *bank.shape[1:]))
    for start in range(0, samples, per):
        stop = min(samples, start + per)
        images[start:stop] = block[:stop - start]
    images.flush()
    del images
    os.replace(partial, path)

"""Benchmark the data pipeline: cache building and batch loading.

    python -m hpa.bench_data [--n 512] [--sizes 128 512] [--batch-size 32] [--workers 2]

Prints two tables:

* cache build: samples/s decoding a generated Kaggle-layout folder of random
  512x512 PNGs into a cache of each size (:func:`hpa.data.cache.build_cache`);
* loader: samples/s delivered by :class:`hpa.data.loader.BatchLoader` over a
  memmapped uint8 array of random images, with the default augmentation and
  without any, for each size.

The consumer does nothing with the batches, so the loader figures are the
most it can feed a training loop. Other processes on the machine slow every
figure down; each one is measured ``--repeats`` times and the best and the
median are shown, with the load average for context.
"""
import argparse
import os
import statistics
import tempfile
import time

import numpy as np
from PIL import Image

from hpa.data.augment import default_augmentation
from hpa.data.cache import build_cache
from hpa.data.dataset import open_dataset
from hpa.data.labels import CHANNELS, NUM_CLASSES
from hpa.data.loader import BatchLoader
from minidl.atomic import atomic_write_text

SOURCE_SIZE = 512


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hpa.bench_data", description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=512, help="images in the loader benchmark (default 512)")
    parser.add_argument("--cache-n", type=int, default=48,
                        help="samples (4 PNGs each) in the cache benchmark; 0 skips it (default 48)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 512], help="image sides (default 128 512)")
    parser.add_argument("--batch-size", type=int, default=32, help="loader batch size (default 32)")
    parser.add_argument("--workers", type=int, default=2, help="loader worker threads (default 2)")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per figure (default 3)")
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="minimum duration of one loader measurement (default 2)")
    args = parser.parse_args(argv)
    for name in ("n", "batch_size", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.workers < 0 or args.cache_n < 0 or min(args.sizes) < 1:
        parser.error("--workers, --cache-n and --sizes must not be negative")
    return args


def write_kaggle_folder(root, n, rng):
    """``root/train.csv`` + ``root/train/<Id>_<colour>.png``: n random samples."""
    os.makedirs(os.path.join(root, "train"))
    rows = ["Id,Target"]
    for i in range(n):
        sample_id = f"bench{i:05d}"
        rows.append(f"{sample_id},{i % NUM_CLASSES}")
        for colour in CHANNELS:
            pixels = rng.integers(0, 256, (SOURCE_SIZE, SOURCE_SIZE), dtype=np.uint8)
            Image.fromarray(pixels).save(os.path.join(root, "train", f"{sample_id}_{colour}.png"))
    atomic_write_text(os.path.join(root, "train.csv"), "\n".join(rows) + "\n")


def bench_cache(args, tmp, rng):
    if args.cache_n == 0:
        print("cache build: skipped (--cache-n 0)")
        return
    folder = os.path.join(tmp, "kaggle")
    print(f"cache build: writing {args.cache_n} samples of 4 random {SOURCE_SIZE}x{SOURCE_SIZE} PNGs ...")
    write_kaggle_folder(folder, args.cache_n, rng)
    dataset = open_dataset(folder)
    print(f"cache build ({os.cpu_count()} decoding processes, the default)")
    print(f"{'size':>6} {'samples/s best':>15} {'median':>8}")
    for size in args.sizes:
        rates = []
        for r in range(args.repeats):
            # A fresh folder each time: build_cache reuses a complete cache.
            start = time.perf_counter()
            build_cache(dataset, size, os.path.join(tmp, f"cache_{size}_{r}"), progress=False)
            rates.append(len(dataset) / (time.perf_counter() - start))
        print(f"{size:>6} {max(rates):>15.0f} {statistics.median(rates):>8.0f}")


def loader_rate(loader, seconds):
    """(samples per second, samples per CPU-second) over whole epochs lasting
    at least ``seconds`` in total."""
    samples, epoch = 0, 0
    start, start_cpu = time.perf_counter(), time.process_time()
    while True:
        loader.set_epoch(epoch)
        for x, _ in loader:
            samples += len(x)
        epoch += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return samples / elapsed, samples / (time.process_time() - start_cpu)


def bench_loader(args, tmp, rng):
    print(f"loader (batch {args.batch_size}, {args.workers} worker threads, {args.n} memmapped images; "
          f"default augmentation = {default_augmentation()!r})")
    print("(per CPU-second: samples per second of CPU time used by this process, which other")
    print(" processes do not take away; the wall-clock rate can reach it times the free cores)")
    print(f"{'size':>6} {'augmentation':>13} {'samples/s best':>15} {'median':>8} {'per CPU-second':>15}")
    for size in args.sizes:
        path = os.path.join(tmp, f"images_{size}.npy")
        images = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(args.n, 4, size, size))
        for start in range(0, args.n, 64):
            images[start:start + 64] = rng.integers(0, 256, images[start:start + 64].shape, dtype=np.uint8)
        images.flush()
        images = np.load(path, mmap_mode="r")
        labels = rng.integers(0, 2, (args.n, NUM_CLASSES), dtype=np.uint8)
        for name, augment in (("default", default_augmentation()), ("none", None)):
            loader = BatchLoader(images, labels, batch_size=args.batch_size, augment=augment,
                                 workers=args.workers, mean=[20, 15, 10, 25], std=[30, 20, 25, 35])
            rates, cpu_rates = zip(*(loader_rate(loader, args.seconds) for _ in range(args.repeats)))
            print(f"{size:>6} {name:>13} {max(rates):>15.0f} {statistics.median(rates):>8.0f} "
                  f"{statistics.median(cpu_rates):>15.0f}")
        os.remove(path)


def main(argv=None):
    args = parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"{os.cpu_count()} CPUs, load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="hpa_bench_") as tmp:
        bench_cache(args, tmp, rng)
        bench_loader(args, tmp, rng)
    print(f"load average at the end {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()

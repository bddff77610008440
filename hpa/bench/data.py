"""Benchmark the data pipeline: cache building and batch loading.

    python -m hpa.bench.data [--n 512] [--sizes 128 512] [--batch-size 32] [--workers N]
                             [--scaling-workers 1 2 4] [--train parallel_lenet gapnet]

Prints four tables:

* cache build: samples/s decoding a generated Kaggle-layout folder of random
  512x512 PNGs into a cache of each size (:func:`hpa.data.cache.build.build_cache`);
* loader: samples/s delivered by :class:`hpa.data.batches.loader.BatchLoader` over a
  memmapped uint8 array of random images, with the default augmentation and
  without any, for each size;
* loader against its threads: the rate with 1, 2, 4, ... threads up to the
  cores this process may use (``--loader-workers`` of the training
  commands), on the host path and on the uint8 path of GPU training
  (:mod:`hpa.bench.loader_scaling`);

* loader against training: for each network of ``--train`` (``NAME`` at its
  registry size and batch, or ``NAME:SIZE``), the samples/s of its float32
  training step (forward, BCE loss, backward, Adam; median of ``--steps``
  after one warm-up) next to the loader's with the default augmentation at
  that size, their ratio, and the share of one core the loader's threads
  take while feeding the step at its pace (the step's rate over the loader's
  samples per CPU-second).

The consumer does nothing with the batches, so the loader figures are the
most it can feed a training loop. Other processes on the machine slow every
figure down; each one is measured ``--repeats`` times and the best and the
median are shown, with the load average for context. NumPy runs as its users
run it (``minidl.bench.blas``), and the training step with minidl's fast CPU path,
as hpa's training commands run it (``minidl.host_memory``).
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np
from PIL import Image

from hpa.bench import loader_scaling
from hpa.bench.loader_scaling import loader_rate
from hpa.bench.step import registry_training_step
from hpa.data.augmentation.augment import default_augmentation
from hpa.data.batches.loader import BatchLoader
from hpa.data.cache.build import build_cache
from hpa.data.reading.dataset import open_dataset
from hpa.data.reading.labels import CHANNELS, NUM_CLASSES
from hpa.models import MODELS
from minidl import host_memory
from minidl.atomic import atomic_write_text
from minidl.bench import blas

SOURCE_SIZE = 512


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hpa.bench.data", description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=512, help="images in the loader benchmark (default 512)")
    parser.add_argument("--cache-n", type=int, default=48,
                        help="samples (4 PNGs each) in the cache benchmark; 0 skips it (default 48)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 512], help="image sides (default 128 512)")
    parser.add_argument("--batch-size", type=int, default=32, help="loader batch size (default 32)")
    parser.add_argument("--workers", type=int, default=loader_scaling.available_cores(),
                        help="loader worker threads of the loader table (default: the cores this process may "
                             "use, as --loader-workers of the training commands)")
    parser.add_argument("--scaling-workers", type=int, nargs="*", default=None, metavar="N",
                        help="thread counts of the scaling table (default 1, 2, 4, ... and the cores this "
                             "process may use; none skips the table)")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per figure (default 3)")
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="minimum duration of one loader measurement (default 2)")
    parser.add_argument("--train", nargs="*", default=["parallel_lenet", "gapnet"], metavar="NAME[:SIZE]",
                        help="networks whose training step the loader is compared with "
                             "(default: parallel_lenet gapnet, each at its registry size; none skips it)")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per network (default 3)")
    args = parser.parse_args(argv)
    args.train = [_train_spec(parser, spec) for spec in args.train]
    args.sizes = list(dict.fromkeys(args.sizes + [size for _, size in args.train]))
    for name in ("n", "batch_size", "repeats", "steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.workers < 0 or args.cache_n < 0 or min(args.sizes) < 1 or min(args.scaling_workers or [1]) < 1:
        parser.error("--workers, --cache-n and --sizes must not be negative, --scaling-workers at least 1")
    return args


def _train_spec(parser, spec):
    """``NAME`` or ``NAME:SIZE`` -> (name, size), the size defaulting to the registry's."""
    name, _, size = spec.partition(":")
    if name not in MODELS:
        parser.error(f"--train: unknown network {name!r}; choose from {', '.join(MODELS)}")
    if size and not (size.isdigit() and int(size) > 0):
        parser.error(f"--train: {spec!r}: the size after ':' must be a positive number of pixels")
    return name, int(size) if size else MODELS[name].image_size


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


def training_rate(name, size, steps):
    """(batch, samples/s) of one float32 training step (``hpa.bench.step``) of network ``name``
    at ``size`` px, at its registry batch size: median of ``steps`` after one warm-up."""
    batch = MODELS[name].batch_size
    step = registry_training_step(name, size, batch)
    step()  # warm-up: workspaces and first-touch memory
    seconds = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - start)
    return batch, batch / statistics.median(seconds)


def bench_training(args, augmented):
    if not args.train:
        return
    print("loader against training (the loader with the default augmentation, the step in float32)")
    print(f"{'size':>6} {'network':>15} {'batch':>6} {'train samples/s':>16} {'loader samples/s':>17} "
          f"{'loader/train':>13} {'loader CPU share':>17}")
    for name, size in args.train:
        batch, rate = training_rate(name, size, args.steps)
        loader, per_cpu = augmented[size]
        print(f"{size:>6} {name:>15} {batch:>6} {rate:>16.1f} {loader:>17.0f} {loader / rate:>12.1f}x "
              f"{100 * rate / per_cpu:>15.1f}%")


def bench_loader(args, tmp, rng):
    print(f"loader (batch {args.batch_size}, {args.workers} worker threads, {args.n} memmapped images; "
          f"default augmentation = {default_augmentation()!r})")
    print("(per CPU-second: samples per second of CPU time used by this process, which other")
    print(" processes do not take away; the wall-clock rate can reach it times the free cores)")
    print(f"{'size':>6} {'augmentation':>13} {'samples/s best':>15} {'median':>8} {'per CPU-second':>15}")
    augmented = {}  # size -> (median samples/s, samples per CPU-second) with the default augmentation
    scaling = {}  # size -> rows of the scaling table
    counts = loader_scaling.worker_counts(loader_scaling.available_cores(), args.scaling_workers)
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
            if name == "default":
                augmented[size] = statistics.median(rates), statistics.median(cpu_rates)
        if args.scaling_workers != []:
            scaling[size] = loader_scaling.measure(images, labels, args, counts)
        del images, loader
        os.remove(path)
    if scaling:
        loader_scaling.print_table(scaling, args.batch_size)
    return augmented


def main(argv=None):
    args = parse_args(argv)
    rng = np.random.default_rng(0)
    host_memory.keep_freed_memory()
    print(f"{os.cpu_count()} CPUs, load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(blas.header_line())
    with tempfile.TemporaryDirectory(prefix="hpa_bench_") as tmp:
        bench_cache(args, tmp, rng)
        augmented = bench_loader(args, tmp, rng)
        bench_training(args, augmented)
    print(f"load average at the end {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(blas.main_as_users_run("hpa.bench.data", main))

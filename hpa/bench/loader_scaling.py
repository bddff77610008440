"""The loader's rate against its number of threads (``--loader-workers``), for ``hpa.bench.data``.

Two paths at each count: the host path (CPU training: gather, augment and
normalise to float32 on the host) and the uint8 path of GPU training, where
the host only gathers the rows and draws each image's augmentation
parameters, and the device does the rest (:mod:`hpa.data.batches.device_batches`).
The second column is what the host must sustain to feed a GPU.
"""
import statistics
import time

from hpa.data.augmentation.augment import default_augmentation
from hpa.data.batches.device_batches import on_device
from hpa.data.batches.loader import BatchLoader
from hpa.data.batches.run_ahead import available_cores


def loader_rate(loader, seconds):
    """(samples per second, samples per CPU-second) over whole epochs lasting
    at least ``seconds`` in total."""
    samples, epoch = 0, 0
    start, start_cpu = time.perf_counter(), time.process_time()
    while True:
        loader.set_epoch(epoch)
        for batch in loader:
            samples += len(batch[0])
        epoch += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return samples / elapsed, samples / max(time.process_time() - start_cpu, 1e-9)


def worker_counts(cores, chosen=None):
    """The thread counts measured: ``chosen``, or 1, 2, 4, ... and ``cores`` itself."""
    if chosen:
        return sorted(set(chosen))
    counts, n = [], 1
    while n < cores:
        counts.append(n)
        n *= 2
    return counts + [cores]


def measure(images, labels, args, counts):
    """[(workers, host samples/s, uint8-path samples/s)]: medians of ``args.repeats`` runs."""
    rows = []
    for workers in counts:
        host = BatchLoader(images, labels, batch_size=args.batch_size, augment=default_augmentation(),
                           workers=workers, mean=[20, 15, 10, 25], std=[30, 20, 25, 35])
        rates = [statistics.median(loader_rate(loader, args.seconds)[0] for _ in range(args.repeats))
                 for loader in (host, on_device(host))]
        rows.append((workers, *rates))
    return rows


def print_table(results, batch_size):
    """``results``: {size: rows of :func:`measure`}."""
    cores = available_cores()
    print(f"loader against its threads (--loader-workers; batch {batch_size}, default augmentation; "
          f"{cores} cores available to this process, so the counts stop at {cores})")
    print(f"{'size':>6} {'workers':>8} {'host path samples/s':>20} {'uint8 path samples/s':>21} {'host speed-up':>14}")
    for size, rows in results.items():
        base = rows[0][1]
        for workers, host, uint8 in rows:
            print(f"{size:>6} {workers:>8} {host:>20.0f} {uint8:>21.0f} {host / base:>13.2f}x")

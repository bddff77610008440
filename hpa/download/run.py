"""Fetch a :class:`~hpa.download.plan.Plan` with a pool of threads, a progress bar, and a clean stop.

Each worker thread takes one sample at a time and fetches its four stains
in turn (:func:`hpa.download.fetch.fetch_file`); a stain that is missing or
fails ends that sample (its other stains would be of no use). Downloads
wait on the network, not the CPU, and the JPEG check decodes outside the
GIL, so threads suffice.

Ctrl-C (or SIGTERM, turned into the same ``KeyboardInterrupt`` by
:func:`hpa.runtime.interrupts.stop_on_sigterm`) reaches the main thread, which sets
``stop``, cancels the samples not yet started and waits for the running
ones: each abandons its file between two chunks (the atomic write removes
its temporary file) or finishes writing it whole. Only complete files remain.
"""
import concurrent.futures
import os
import queue
import re
import sys
import threading

from tqdm import tqdm

from hpa.data.reading.labels import CHANNELS
from hpa.download.fetch import FetchFailed, Missing, fetch_file
from hpa.download.summary import Outcome

# The temporary files minidl.atomic.atomic_path leaves when a process is killed outright.
_STALE = re.compile(r"^\..+_(%s)\.jpg\.[^.]+\.tmp\.jpg$" % "|".join(CHANNELS))


def remove_stale_temps(folder):
    """Delete the temporary files of writes a killed earlier run left in ``folder``; returns how many."""
    removed = 0
    for name in os.listdir(folder):
        if _STALE.match(name):
            try:
                os.remove(os.path.join(folder, name))
                removed += 1
            except FileNotFoundError:
                pass
    return removed


def missing_samples(plan):
    """How many planned samples lack at least one file (by name only: the cheap check before starting)."""
    present = set(os.listdir(plan.out)) if os.path.isdir(plan.out) else set()
    return sum(1 for sample_id in plan.ids
               if any(f"{sample_id}_{c}.jpg" not in present for c in CHANNELS))


def fetch_sample(plan, i, options, stop):
    """All four stains of sample ``i`` -> :class:`Outcome`."""
    fetched = reused = 0
    for colour, url, path in plan.files(i):
        try:
            got = fetch_file(url, path, options, stop)
        except Missing as why:
            return Outcome(i, "missing", colour, url, str(why), fetched, reused)
        except FetchFailed as why:
            return Outcome(i, "failed", colour, url, str(why), fetched, reused)
        fetched += got
        reused += got == 0
    return Outcome(i, "complete", fetched=fetched, reused=reused)


def download(plan, options, workers, results, progress=True):
    """Fetch every sample of ``plan`` on ``workers`` threads, adding each :class:`Outcome` to ``results``.

    A disk error (e.g. a full disk) in any worker stops them all and is raised here.
    """
    stop = threading.Event()
    pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="hpav18")
    bar = tqdm(total=len(plan.ids), unit="sample", desc="HPAv18", disable=not progress,
               dynamic_ncols=True, smoothing=0.05)
    done = queue.SimpleQueue()
    try:
        for i in range(len(plan.ids)):
            pool.submit(fetch_sample, plan, i, options, stop).add_done_callback(done.put)
        lost = 0
        for _ in range(len(plan.ids)):
            outcome = _next(done, bar).result()
            results.add(outcome)
            lost += outcome.kind != "complete"
            bar.update(1)
            if outcome.kind != "complete":
                bar.set_postfix(failed=lost, refresh=False)
    except KeyboardInterrupt:
        bar.close()
        # A worker blocked in a read notices the stop when the read returns.
        print(f"stopping: the files in progress are finished or dropped within --timeout "
              f"{options.timeout:g} s", file=sys.stderr, flush=True)
        raise
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()


def _next(done, bar):
    """The next finished future; while none comes, redraw the bar every second (elapsed time, a stalled rate)."""
    while True:
        try:
            return done.get(timeout=1.0)
        except queue.Empty:
            bar.refresh()

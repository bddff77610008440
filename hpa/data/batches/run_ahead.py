"""Build a loader's next batches in background threads while the consumer trains on the current one.

Threads (not processes) suffice because NumPy releases the GIL inside its
heavy loops (copies, casts, arithmetic), and they share the memmap without
pickling. Results come back in order; an exception raised while building a
batch is re-raised in the consumer at that batch; and leaving the loop early
(``break``) stops the workers after the batches they are building.
"""
import collections
import itertools
import os
from concurrent.futures import ThreadPoolExecutor


def available_cores():
    """The cores this process may run on (its CPU affinity): the default number of loader threads."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity call on this platform
        return os.cpu_count() or 1


def run_ahead(build, jobs, workers, prefetch):
    """Yield ``build(*job)`` for each job in order, computed by background threads.

    At most ``workers + prefetch`` batches exist at once (being built or
    waiting), which bounds memory. Stopping the generator (``break`` drops it)
    cancels queued jobs and waits only for the ones already running.
    """
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hpa-loader")
    pending = collections.deque()
    try:
        for job in itertools.islice(jobs, workers + prefetch):
            pending.append(pool.submit(build, *job))
        while pending:
            batch = pending.popleft().result()  # re-raises a worker's exception here
            for job in itertools.islice(jobs, 1):
                pending.append(pool.submit(build, *job))
            yield batch
    finally:
        pool.shutdown(wait=True, cancel_futures=True)

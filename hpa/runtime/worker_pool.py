"""Worker processes for a batch of independent tasks, that stop cleanly however the run ends.

    with unordered_results(fill_chunk, [(0, 64), (64, 128)], workers=2) as results:
        for task, result in results:      # as each task finishes
            ...

Generating the synthetic data and building an image cache both hand chunks
of work to forked processes. What must hold, whatever happens:

* The normal end lets every worker finish and joins it (no signal sent).
* Ctrl-C or SIGTERM in the parent ends in the parent's one-line message,
  never in a worker's traceback. Workers never run the parent's Python
  handlers: they are forked with SIGINT and SIGTERM blocked and ignore both
  before unblocking (:func:`hpa.runtime.interrupts.die_with_parent`), so a signal
  sent to the whole process group (Ctrl-C, a job scheduler) reaches the
  parent alone in effect.
* An exception leaving the block (the parent's interrupt, a task's error)
  cancels the queued tasks and kills the running workers with SIGKILL:
  nothing waits for a long chunk, and a killed task is simply redone by the
  resumed run (its output is written atomically or recorded only when done).
* No worker outlives the parent, even one killed with SIGKILL (the kernel
  kills them with it, see :func:`~hpa.runtime.interrupts.die_with_parent`).

The pool is :class:`concurrent.futures.ProcessPoolExecutor` with the fork
start method where it exists: workers share the parent's imported modules.
Once minidl has selected the GPU, CUDA has started threads of its own in
this process, and a fork copies their locks in whatever state they are in;
then the pool uses the forkserver start method instead: a clean server
process, holding Ctrl-C and SIGTERM back (:mod:`hpa.runtime.forkserver_preload`: every
worker it forks starts with them held, as a forked worker does), forks them; the
workers end when this process does (each watches its end of a pipe from it).
The function, initializer and their arguments are pickled then (module-level
functions, picklable data).
"""
import contextlib
import multiprocessing
import multiprocessing.forkserver
import os
import signal
import sys
import threading
from concurrent.futures import ProcessPoolExecutor, as_completed

from hpa.runtime.interrupts import die_with_parent, stop_signals_held


def device_in_use():
    """True once minidl has selected the GPU in this process (its check starts CUDA's threads)."""
    backend = sys.modules.get("minidl.backend")
    return backend is not None and backend.cupy is not None and backend.device() == "gpu"


def _context():
    """(multiprocessing context, the pid its workers' parent has): fork, or after CUDA the forkserver."""
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods and device_in_use():
        # The server holds Ctrl-C and SIGTERM (its preload), and so does every worker it forks.
        # A server started earlier by other code keeps that code's preload.
        multiprocessing.set_forkserver_preload(["hpa.runtime.forkserver_preload"])
        multiprocessing.forkserver.ensure_running()
        return multiprocessing.get_context("forkserver"), multiprocessing.forkserver._forkserver._forkserver_pid
    return multiprocessing.get_context("fork" if "fork" in methods else None), os.getpid()


def _start_worker(parent_pid, initializer, initargs):
    die_with_parent(parent_pid)
    pool_process = multiprocessing.parent_process()
    if pool_process is not None and pool_process.pid != os.getppid():
        # Forked by the forkserver, which lives as long as any of its workers does: the
        # kernel's parent-death signal cannot tie us to the pool's process, its pipe can.
        threading.Thread(target=_exit_when_gone, args=(pool_process,), daemon=True).start()
    if initializer is not None:
        initializer(*initargs)


def _exit_when_gone(process):
    process.join()  # returns when the process has ended (its end of a pipe closed), however it ended
    os._exit(1)


@contextlib.contextmanager
def unordered_results(function, tasks, workers, initializer=None, initargs=()):
    """Run ``function(*task)`` for each task of ``tasks`` in ``workers`` processes.

    Yields an iterator of ``(task, result)`` pairs in the order the tasks
    finish; a task's exception is raised when its pair comes up. Tasks are
    tuples; ``initializer(*initargs)`` runs once in each worker first (e.g.
    to unpickle a dataset once rather than per task). ``function`` and
    ``initializer`` must be module-level functions.
    """
    tasks = [tuple(task) for task in tasks]
    context, parent_pid = _context()
    pool = ProcessPoolExecutor(max(1, min(workers, len(tasks))), mp_context=context,
                               initializer=_start_worker, initargs=(parent_pid, initializer, initargs))
    try:
        # Every fork happens here, with Ctrl-C and SIGTERM held back: the
        # executor starts its processes (and its manager thread, which
        # inherits the mask) on the first submit.
        with stop_signals_held():
            futures = {pool.submit(function, *task): task for task in tasks}
        yield ((futures[future], future.result()) for future in as_completed(futures))
    except BaseException:
        # Queued tasks are cancelled by the shutdown below. Not here: the
        # executor's thread would then fail a cancelled task, with a
        # traceback, on seeing the killed workers (CPython 3.11).
        _kill_workers(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _kill_workers(pool):
    """SIGKILL the workers (they ignore SIGINT and SIGTERM).

    The executor sees them die, fails their tasks, and reaps them; its
    ``shutdown(wait=True)`` returns once it has.
    """
    kill = getattr(pool, "kill_workers", None)  # Python 3.14 has it
    if kill is not None:
        kill()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)

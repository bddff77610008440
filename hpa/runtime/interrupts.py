"""Stopping a command cleanly: Ctrl-C and SIGTERM, with advice for the phase it stopped in.

A long run goes through phases (generating the synthetic data, caching the
images, training), and what survives an interruption differs between them:
a half-generated data set is regenerated, a half-built cache resumes from
its finished chunks, training continues from its last checkpoint. The
command marks each phase,

    with phase("caching the images", "finished chunks are kept; the same command resumes the build"):
        cache = cached_images(...)

and :func:`hpa.runtime.cli.run` prints ``interrupted while <what>: <advice>`` when
a stop arrives within it. SIGTERM (what ``kill`` and job schedulers send) is turned
into the same ``KeyboardInterrupt`` as Ctrl-C by :func:`stop_on_sigterm`, so
both unwind through ``finally`` blocks (worker pools shut down, temporary
files removed) instead of vanishing silently. Worker processes
(:mod:`hpa.runtime.worker_pool`) are forked with both signals held back
(:func:`stop_signals_held`), then ignore them (:func:`die_with_parent`):
the parent alone decides to stop, and no worker outlives it.
"""
import contextlib
import ctypes
import os
import signal
import sys
import threading
import time


@contextlib.contextmanager
def phase(what, advice):
    """Mark the enclosed work as ``what``; ``advice`` says how to continue if it is interrupted.

    ``advice`` is a string, or a function returning one when the stop comes
    (when it depends on what exists by then, e.g. a checkpoint). A stop
    leaving the block carries the message of the innermost phase it left.
    """
    try:
        yield
    except KeyboardInterrupt as stop:
        if not hasattr(stop, "hpa_message"):
            stop.hpa_message = f"interrupted while {what}: {advice() if callable(advice) else advice}"
        raise


def interrupted_message(stop):
    """What to tell the user about the ``KeyboardInterrupt`` ``stop``: its phase's advice, if any."""
    return getattr(stop, "hpa_message", "interrupted")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, exactly like Ctrl-C's ``KeyboardInterrupt``."""


def _raise_terminated(signum, frame):
    raise Terminated()


@contextlib.contextmanager
def stop_on_sigterm():
    """Within the block SIGTERM raises :class:`Terminated`; the previous handler comes back after it.

    Signal handlers can only be set from the main thread; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stop_signals_held():
    """Hold back Ctrl-C and SIGTERM in this thread within the block; they arrive after it.

    A process forked within the block starts with both signals blocked, so
    that the parent's Python handlers (which raise ``KeyboardInterrupt`` or
    :class:`Terminated`) can never run in it: its first act,
    :func:`die_with_parent`, replaces them and only then unblocks. Signals
    sent to this process meanwhile stay pending, not lost, and are handled
    as the block ends. Keep the block short (forking and queueing work).
    """
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def die_with_parent(parent_pid):
    """Make this worker process leave Ctrl-C and SIGTERM to its parent, and die with it.

    Called first thing in a worker forked within :func:`stop_signals_held`.
    Ctrl-C reaches every process of the terminal's group, and a job
    scheduler may send SIGTERM to all of a job's processes: the worker
    ignores both and leaves the decision to its parent, which stops its
    pool (:mod:`hpa.runtime.worker_pool`). Ignoring discards a signal that came
    while they were held, so the inherited handlers never run. On Linux the
    kernel kills the worker when the parent dies, however it dies
    (``prctl(PR_SET_PDEATHSIG, SIGKILL)``); elsewhere a thread checks once a
    second whether the parent is gone.
    """
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    else:
        threading.Thread(target=_exit_when_orphaned, args=(parent_pid,), daemon=True).start()
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def _exit_when_orphaned(parent_pid):
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    os._exit(1)

"""A deadline on collective calls, so that a dead or stuck rank cannot hang the job.

A collective call returns only when every rank has made it. If one rank has
died without the launcher noticing (a lost machine, a stopped process) or is
stuck elsewhere, the others would wait for ever. :class:`Watchdog` is one
background thread that watches the call in progress:

    with watchdog.guard("all-reduce of gradient bucket 1/3"):
        comm.Allreduce(...)          # blocks in C, with the GIL released

Entering ``guard`` records a deadline (now + timeout) and the call's name;
leaving it clears them. When a deadline passes, the thread calls
``expire(message)``, which prints the message and aborts the MPI job: the
launcher then ends every rank. Guarding a call costs two lock operations,
not a thread per call.
"""
import contextlib
import os
import threading
import time

DEFAULT_TIMEOUT = 300.0


def default_timeout():
    """``$MINIDL_COLLECTIVE_TIMEOUT`` in seconds, else 300 (0 switches deadlines off)."""
    value = os.environ.get("MINIDL_COLLECTIVE_TIMEOUT")
    if value is None:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"MINIDL_COLLECTIVE_TIMEOUT={value!r}: expected a number of seconds") from None
    if seconds < 0:
        raise ValueError(f"MINIDL_COLLECTIVE_TIMEOUT={value!r}: must be >= 0")
    return seconds


class Watchdog:
    """Calls ``expire(message)`` from its own thread when a guarded call overruns.

    timeout: default seconds per guarded call; 0 or None switches it off.
    """

    def __init__(self, timeout, expire):
        self.timeout = timeout
        self.expire = expire  # replaceable: a group may need to clean up before aborting
        self._condition = threading.Condition()
        self._deadline = None
        self._what = None
        self._seconds = None
        self._thread = None

    @contextlib.contextmanager
    def guard(self, what, timeout=None):
        """Watch the block as one call named ``what``; ``timeout`` overrides the default."""
        seconds = self.timeout if timeout is None else timeout
        if not seconds:
            yield
            return
        with self._condition:
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="minidl-watchdog", daemon=True)
                self._thread.start()
            self._deadline = time.monotonic() + seconds
            self._what, self._seconds = what, seconds
            self._condition.notify()
        try:
            yield
        finally:
            with self._condition:
                self._deadline = None

    def _watch(self):
        with self._condition:
            while True:
                if self._deadline is None:
                    self._condition.wait()
                    continue
                left = self._deadline - time.monotonic()
                if left <= 0:
                    break
                self._condition.wait(left)
            what, seconds = self._what, self._seconds
        self.expire(f"{what} did not complete within {seconds:g} s: another rank has died, "
                     f"is stuck, or took a different path through the program "
                     f"(raise the limit with MINIDL_COLLECTIVE_TIMEOUT)")

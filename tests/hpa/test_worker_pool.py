"""hpa.runtime.worker_pool: workers never run the parent's Ctrl-C/SIGTERM handlers, and die with the pool's block."""
import os
import signal
import sys
import time

import pytest
from processes import alive, children

from hpa.runtime import worker_pool
from hpa.runtime.interrupts import Terminated, stop_on_sigterm

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork, /proc")


def _signal_state(_):
    """In a worker: its pid, what SIGINT and SIGTERM do, and which signals it blocks."""
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    return os.getpid(), signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM), blocked


def _sleep_or_return(seconds):
    time.sleep(seconds)
    return os.getpid()



def test_a_signal_between_fork_and_set_up_never_reaches_the_parents_handlers(monkeypatch, capfd):
    # The worst moment: Ctrl-C and SIGTERM arrive in a worker right after the
    # fork, before it has set its own handlers. Held back, they are dropped.
    real = worker_pool.die_with_parent

    def signalled_right_after_fork(parent_pid):
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
        real(parent_pid)

    monkeypatch.setattr(worker_pool, "die_with_parent", signalled_right_after_fork)
    with stop_on_sigterm():  # the parent's handlers, as in every hpa command
        with worker_pool.unordered_results(_signal_state, [(i,) for i in range(6)], workers=2) as results:
            states = [result for _, result in results]
    # Every worker came through (a handler run in one would break the pool, with a traceback),
    # and those that drew a task had their own handlers.
    assert len(states) == 6
    for _, on_int, on_term, blocked in states:
        assert (on_int, on_term) == (signal.SIG_IGN, signal.SIG_IGN)
        assert signal.SIGINT not in blocked and signal.SIGTERM not in blocked
    assert "Traceback" not in capfd.readouterr().err


def test_workers_ignore_signals_sent_to_them_and_finish_their_work(capfd):
    with stop_on_sigterm():
        with worker_pool.unordered_results(_sleep_or_return, [(0.2,)] * 4, workers=2) as results:
            pids = []
            for _, pid in results:
                if not pids:  # what Ctrl-C or a scheduler's SIGTERM to the process group does to them
                    for worker in _children():
                        os.kill(worker, signal.SIGINT)
                        os.kill(worker, signal.SIGTERM)
                pids.append(pid)
    assert len(pids) == 4
    assert "Traceback" not in capfd.readouterr().err


def _children():
    return children(os.getpid())


@pytest.mark.parametrize("stop", [Terminated, KeyboardInterrupt, ValueError])
def test_leaving_the_block_early_kills_the_running_workers_at_once(stop):
    before = set(_children())
    started = time.monotonic()
    with pytest.raises(stop):
        with worker_pool.unordered_results(_sleep_or_return, [(0.0,), (3600.0,), (3600.0,)], workers=2) as results:
            next(results)  # one worker is done, the other sleeps for an hour
            workers = set(_children()) - before
            raise stop()
    assert time.monotonic() - started < 30
    assert len(workers) == 2 and not any(map(alive, workers))


def _fail(_):
    raise ValueError("bad chunk")


def test_a_tasks_error_comes_up_in_the_parent():
    with pytest.raises(ValueError, match="bad chunk"):
        with worker_pool.unordered_results(_fail, [(1,), (2,)], workers=2) as results:
            list(results)

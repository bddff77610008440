"""hpa.runtime.worker_pool once the GPU is in use: workers come from the forkserver (no fork of a process
that runs CUDA's threads), with the same guarantees as forked ones: Ctrl-C and SIGTERM held
from their first instruction, then ignored; killed when the block is left; dead with the parent."""
import os
import signal
import subprocess
import sys
import time

import pytest
from processes import alive, children

from hpa.runtime import worker_pool
from hpa.runtime.interrupts import Terminated, stop_on_sigterm

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forkserver, /proc")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _state(seconds):
    """In a worker: its parent, what SIGINT and SIGTERM do, which signals it blocks."""
    time.sleep(seconds)
    return os.getppid(), signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM), \
        signal.pthread_sigmask(signal.SIG_BLOCK, [])


def _blocked_by(pid):
    """The signals process ``pid`` blocks, from /proc (SigBlk: bit s-1 for signal s)."""
    with open(f"/proc/{pid}/status") as f:
        mask = int(next(line for line in f if line.startswith("SigBlk:")).split()[1], 16)
    return {s for s in (signal.SIGINT, signal.SIGTERM) if mask >> (s - 1) & 1}


def _server():
    import multiprocessing.forkserver
    return multiprocessing.forkserver._forkserver._forkserver_pid


def test_with_the_gpu_in_use_the_forkserver_forks_workers_with_signals_held(fake_device, capfd):
    assert worker_pool.device_in_use()
    with stop_on_sigterm():
        with worker_pool.unordered_results(_state, [(0.0,)] * 4, workers=2) as results:
            states = [result for _, result in results]
    server = _server()
    assert server != os.getpid() and alive(server)
    assert _blocked_by(server) == {signal.SIGINT, signal.SIGTERM}  # so each worker starts with them held
    for parent, on_int, on_term, blocked in states:
        assert parent == server
        assert (on_int, on_term) == (signal.SIG_IGN, signal.SIG_IGN)
        assert signal.SIGINT not in blocked and signal.SIGTERM not in blocked
    assert "Traceback" not in capfd.readouterr().err


def test_on_the_cpu_workers_are_still_forked():
    assert not worker_pool.device_in_use()
    with worker_pool.unordered_results(_state, [(0.0,)] * 2, workers=2) as results:
        assert {parent for _, (parent, *_) in results} == {os.getpid()}


def test_forkserver_workers_ignore_signals_and_finish(fake_device, capfd):
    with stop_on_sigterm():
        with worker_pool.unordered_results(_state, [(0.3,)] * 4, workers=2) as results:
            done = []
            for _, state in results:
                if not done:
                    for worker in children(_server()):
                        os.kill(worker, signal.SIGINT)
                        os.kill(worker, signal.SIGTERM)
                done.append(state)
    assert len(done) == 4
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("stop", [Terminated, KeyboardInterrupt])
def test_leaving_the_block_kills_forkserver_workers_at_once(fake_device, stop):
    started = time.monotonic()
    with pytest.raises(stop):
        with worker_pool.unordered_results(_state, [(0.0,), (3600.0,), (3600.0,)], workers=2) as results:
            next(results)
            workers = children(_server())
            raise stop()
    assert time.monotonic() - started < 30
    assert len(workers) == 2
    deadline = time.monotonic() + 10
    while any(map(alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(alive, workers))


def test_forkserver_workers_die_with_a_killed_parent():
    script = ("import time\nfrom hpa.runtime import worker_pool\nworker_pool.device_in_use = lambda: True\n"
              "with worker_pool.unordered_results(time.sleep, [(3600,), (3600,)], 2) as results:\n"
              "    print('started', flush=True)\n    list(results)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": ROOT})
    try:
        assert proc.stdout.readline().strip() == "started"
        deadline = time.monotonic() + 60
        while True:  # the server is the script's child; the workers are the server's
            workers = [w for server in children(proc.pid) for w in children(server)]
            if len(workers) >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert len(workers) == 2
        proc.kill()
        proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while any(map(alive, workers)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(map(alive, workers))
    finally:
        proc.kill()
        proc.stdout.close()

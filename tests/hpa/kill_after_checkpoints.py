"""A command killed as ``kill -9`` would kill it, right after its N-th mid-epoch checkpoint.

    python kill_after_checkpoints.py N -m hpa.train ARGS...

Wraps the trainer's checkpoint clock (``CheckpointClock.saved_now``, called
once a mid-epoch ``last.npz`` is written) so that the N-th call sends the
process SIGKILL, then runs the module as ``python -m`` would: a test can stop
a run at an exact batch, and the command carries no hook for it.
"""
import os
import runpy
import signal
import sys

from hpa.training.position import CheckpointClock

_saved_now = CheckpointClock.saved_now


def kill_after(n):
    count = 0

    def saved_now(clock):
        nonlocal count
        _saved_now(clock)
        count += 1
        if count == n:
            os.kill(os.getpid(), signal.SIGKILL)
    CheckpointClock.saved_now = saved_now


if __name__ == "__main__":
    if len(sys.argv) < 4 or not sys.argv[1].isdigit() or sys.argv[2] != "-m":
        sys.exit("usage: python kill_after_checkpoints.py N -m MODULE [ARGS...]")
    kill_after(int(sys.argv[1]))
    module, sys.argv = sys.argv[3], [sys.argv[3], *sys.argv[4:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)

"""Shared by the worker scripts: start the group, run the body, write rank 0's report.

A failing assertion or exception on any rank aborts the job (so the test
fails at once with the traceback instead of hanging). The group's
communicator refuses mpi4py's pickle-based calls, so every job also proves
that no rank unpickles what it receives.
"""
import json
import sys

import minidl.distributed as dist
from minidl.distributed.mpi_group import MPIProcessGroup

# mpi4py's lower-case methods pickle what they send and unpickle what they receive.
PICKLING = {"allgather", "allreduce", "alltoall", "bcast", "bsend", "exscan", "gather", "ibsend", "improbe",
            "iprobe", "irecv", "isend", "issend", "mprobe", "probe", "recv", "reduce", "scan", "scatter", "send",
            "sendrecv", "ssend", "ibcast", "iallgather", "iallreduce", "igather", "iscatter", "ialltoall"}


class BuffersOnly:
    """An MPI communicator without mpi4py's pickle-based calls (a call to one fails the job)."""

    def __init__(self, comm):
        self._comm = comm

    def __getattr__(self, name):
        if name in PICKLING:
            raise AssertionError(f"comm.{name} sends pickles; collectives must send buffers")
        return getattr(self._comm, name)


def buffers_only_group(timeout=60):
    """An :class:`MPIProcessGroup` of all ranks over :class:`BuffersOnly`, made the default group."""
    from mpi4py import MPI
    group = MPIProcessGroup(BuffersOnly(MPI.COMM_WORLD), timeout=timeout)
    dist.set_process_group(group)
    return group


def run(body, timeout=60):
    """``body(group, argv) -> report dict``, written as JSON by rank 0 to argv[1]."""
    group = buffers_only_group(timeout)
    with dist.abort_on_failure(group):
        report = body(group, sys.argv[2:])
        if group.rank == 0:
            with open(sys.argv[1], "w") as f:
                json.dump(report, f)


def flat_state(model):
    """Every parameter and buffer of ``model`` as one float64 vector."""
    import numpy as np
    return np.concatenate([v.reshape(-1).astype(np.float64) for v in model.state_dict().values()])

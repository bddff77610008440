"""What a process group offers, the group of one process, and the default group.

A process group is the set of K processes ("ranks" 0..K-1) that train one
model together. Every collective call must be made by all ranks, in the same
order, with arrays of the same shape and dtype (``allgather`` alone accepts a
different first dimension per rank):

    group.allreduce(a)          a <- a_0 + a_1 + ... + a_{K-1}, in place, on every rank
    group.broadcast(a, root=0)  a <- a_root, in place, on every rank
    group.allgather(a)          -> concatenate([a_0, ..., a_{K-1}], axis=0), new array
    group.broadcast_json(v)     -> v of rank 0 (a JSON value: metadata such as a folder name)
    group.allgather_json(v)     -> [v_0, ..., v_{K-1}] (JSON values)
    group.barrier()             returns once every rank has called it
    group.abort(message)        prints ``error: message`` and ends all K processes

Arrays must be C-contiguous (collectives read and write raw memory). No
group sends pickles (:mod:`minidl.distributed.wire`).

:class:`SingleProcessGroup` is the group of one process, where every call is
the identity: code written against a group runs unchanged without MPI.
:class:`~minidl.distributed.mpi_group.MPIProcessGroup` and
:class:`~minidl.distributed.nccl_group.NCCLProcessGroup` are the real ones.

``init_process_group()`` creates the group of all processes started by
``mpiexec`` and makes it the default that :class:`SyncBatchNorm` and the
gradient all-reduce use when given no group.
"""
import sys

from minidl.distributed import wire


class ProcessGroup:
    """Base class: ``rank``, ``size`` and the collective calls listed above."""

    rank = 0
    size = 1

    @property
    def is_root(self):
        """True on rank 0, the rank that logs and writes files."""
        return self.rank == 0

    def allreduce(self, array, what="all-reduce"):
        raise NotImplementedError

    def broadcast(self, array, root=0, what="broadcast"):
        raise NotImplementedError

    def allgather(self, array, what="all-gather"):
        raise NotImplementedError

    def broadcast_json(self, value, root=0, what="broadcast of a JSON value"):
        raise NotImplementedError

    def allgather_json(self, value, what="all-gather of a JSON value"):
        raise NotImplementedError

    def barrier(self, what="barrier", timeout=None):
        raise NotImplementedError

    def abort(self, message, code=1):
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}(rank={self.rank}, size={self.size})"


class SingleProcessGroup(ProcessGroup):
    """The group of this process alone: sums, broadcasts and gathers of one."""

    def allreduce(self, array, what="all-reduce"):
        return array

    def broadcast(self, array, root=0, what="broadcast"):
        if root != 0:
            raise ValueError(f"root must be 0 in a group of one process, got {root}")
        return array

    def allgather(self, array, what="all-gather"):
        return array.copy()

    def broadcast_json(self, value, root=0, what="broadcast of a JSON value"):
        if root != 0:
            raise ValueError(f"root must be 0 in a group of one process, got {root}")
        return wire.decode_json(wire.encode_json(value, what), what)  # as it would arrive from another rank

    def allgather_json(self, value, what="all-gather of a JSON value"):
        return [wire.decode_json(wire.encode_json(value, what), what)]

    def barrier(self, what="barrier", timeout=None):
        pass

    def abort(self, message, code=1):
        print(f"error: {message}", file=sys.stderr, flush=True)
        raise SystemExit(code)


_default = None


def init_process_group(backend="mpi", timeout=None):
    """Create the group of all ranks and make it the default; returns it.

    backend: ``"mpi"`` (host arrays; device arrays are staged through the
        host) or ``"nccl"`` (CuPy arrays stay on the GPU, one GPU per rank).
    timeout: seconds any one collective call may wait before the job is
        ended with a message (a dead or stuck rank otherwise hangs the rest
        for ever); default ``$MINIDL_COLLECTIVE_TIMEOUT`` or 300.
    """
    global _default
    if backend == "mpi":
        from minidl.distributed.mpi_group import MPIProcessGroup
        _default = MPIProcessGroup(timeout=timeout)
    elif backend == "nccl":
        from minidl.distributed.mpi_group import MPIProcessGroup
        from minidl.distributed.nccl_group import NCCLProcessGroup
        _default = NCCLProcessGroup(MPIProcessGroup(timeout=timeout))
    else:
        raise ValueError(f"unknown backend {backend!r}: use 'mpi' or 'nccl'")
    return _default


def get_process_group():
    """The default group, or a :class:`SingleProcessGroup` when none was initialised."""
    return _default if _default is not None else SingleProcessGroup()


def set_process_group(group):
    """Make ``group`` the default (None: back to a single process); returns the previous one."""
    global _default
    previous, _default = _default, group
    return previous

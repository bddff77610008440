"""A process group over MPI (mpi4py): collectives on host arrays.

    mpiexec -n 2 python train.py         # each process: group = MPIProcessGroup()

MPI reads and writes the arrays' memory directly, so arrays must be
C-contiguous NumPy arrays. CuPy arrays are accepted too and staged through host
memory (a copy each way); :class:`~minidl.distributed.nccl_group.NCCLProcessGroup`
keeps them on the GPU instead.

Every call runs under the group's :class:`~minidl.distributed.watchdog.Watchdog`:
if a rank stops answering, the others print which call timed out and abort
the MPI job instead of waiting for ever. MPI errors raise ``MPI.Exception``
(the ``ERRORS_RETURN`` handler) rather than killing the process without a word.

Only buffers travel: arrays through MPI's buffer calls (``Allreduce``,
``Bcast``, ``Allgather(v)``), array layouts as fixed-size int64 records and
metadata as JSON bytes (:mod:`minidl.distributed.wire`). Nothing received is
unpickled, so a message cannot run code. The ranks still trust each other and
the network between them: run jobs on a trusted network only.
"""
import math
import sys

from minidl import backend
from minidl.distributed import wire
from minidl.distributed.group import ProcessGroup
from minidl.distributed.watchdog import Watchdog, default_timeout

INSTALL_HINT = "pip install -e '.[distributed]' (mpi4py and the mpich wheel)"


def import_mpi():
    """``mpi4py.MPI``, or an ImportError that says how to install it."""
    try:
        from mpi4py import MPI
    except (ImportError, RuntimeError, OSError) as error:  # no mpi4py, or no MPI library to load
        raise ImportError(f"minidl.distributed needs mpi4py and an MPI library: {INSTALL_HINT} "
                          f"({type(error).__name__}: {error})") from None
    return MPI


def _host_buffer(array, what):
    """(host array MPI can use, whether ``array`` lives on the device)."""
    if backend.is_device_array(array):
        return backend.to_numpy(array), True
    if not array.flags.c_contiguous:
        raise ValueError(f"{what}: the array must be C-contiguous, got strides {array.strides}")
    return array, False


def _length(payload):
    """int64 buffer holding ``len(payload)`` (0: nothing to send)."""
    length = wire.words(1)
    length[0] = len(payload)
    return length


def _restore(array, host, on_device):
    if on_device:
        array[...] = backend.to_device(host, "gpu")
    return array


class MPIProcessGroup(ProcessGroup):
    """All ranks of an MPI communicator (default ``MPI.COMM_WORLD``).

    timeout: seconds one collective call may wait (None: see
        :func:`~minidl.distributed.watchdog.default_timeout`; 0: for ever).
    """

    def __init__(self, comm=None, timeout=None):
        self.MPI = import_mpi()
        self.comm = self.MPI.COMM_WORLD if comm is None else comm
        self.comm.Set_errhandler(self.MPI.ERRORS_RETURN)
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.watchdog = Watchdog(default_timeout() if timeout is None else timeout, self.abort)
        self._local_rank = None

    def allreduce(self, array, what="all-reduce"):
        host, on_device = _host_buffer(array, what)
        with self.watchdog.guard(what):
            self.comm.Allreduce(self.MPI.IN_PLACE, host, op=self.MPI.SUM)
        return _restore(array, host, on_device)

    def broadcast(self, array, root=0, what="broadcast"):
        host, on_device = _host_buffer(array, what)
        with self.watchdog.guard(what):
            self.comm.Bcast(host, root=root)
        return _restore(array, host, on_device)

    def allgather(self, array, what="all-gather"):
        host, on_device = _host_buffer(array, what)
        if host.ndim == 0:
            host = host.reshape(1)
        with self.watchdog.guard(what):
            records, width = wire.words(self.size * wire.RECORD_WORDS), wire.RECORD_WORDS
            self.comm.Allgather(wire.layout_record(host.shape, host.dtype), records)
            layouts = [wire.read_layout(records[r * width:(r + 1) * width]) for r in range(self.size)]
            tails = {(shape[1:], dtype) for shape, dtype in layouts}
            if len(tails) > 1:
                # Every rank sees the same layouts, so every rank raises here.
                raise ValueError(f"{what}: ranks disagree on the trailing shape or dtype: "
                                 + ", ".join(f"rank {r} {s} {d}" for r, (s, d) in enumerate(layouts)))
            counts = [shape[0] for shape, _ in layouts]
            out = backend.get_array_module(host).empty((sum(counts),) + host.shape[1:], dtype=host.dtype)
            row = math.prod(host.shape[1:])
            self.comm.Allgatherv(host, [out, [c * row for c in counts]])
        return backend.to_device(out, "gpu") if on_device else out

    def allgather_json(self, value, what="all-gather of a JSON value"):
        """``[value of rank 0, value of rank 1, ...]`` for JSON values (sent as UTF-8 bytes)."""
        try:
            payload, failure = wire.encode_json(value, what), None
        except (TypeError, ValueError) as error:
            payload, failure = bytearray(), error
        lengths = wire.words(self.size)
        with self.watchdog.guard(what):
            self.comm.Allgather(wire.words(1) if failure else _length(payload), lengths)
            if failure is not None:
                raise failure
            if min(lengths) <= 0 or sum(lengths) > self.size * wire.MAX_JSON_BYTES:
                raise ValueError(f"{what}: rank {lengths.index(min(lengths))} could not encode its value")
            data = bytearray(sum(lengths))
            self.comm.Allgatherv(payload, [data, list(lengths)])
        starts = [sum(lengths[:r]) for r in range(self.size)]
        return [wire.decode_json(data[lo:lo + n], what) for lo, n in zip(starts, lengths)]

    def broadcast_json(self, value, root=0, what="broadcast of a JSON value"):
        """``value`` of rank ``root`` (a JSON value, sent as its length, then its UTF-8 bytes), on every rank."""
        payload, failure = bytearray(), None
        if self.rank == root:
            try:
                payload = wire.encode_json(value, what)
            except (TypeError, ValueError) as error:
                failure = error
        length = _length(payload)
        with self.watchdog.guard(what):
            self.comm.Bcast(length, root=root)
            if failure is not None:
                raise failure
            if not 0 < length[0] <= wire.MAX_JSON_BYTES:
                raise ValueError(f"{what}: rank {root} could not encode its value")
            buffer = payload if self.rank == root else bytearray(length[0])
            self.comm.Bcast(buffer, root=root)
        return wire.decode_json(buffer, what)

    def barrier(self, what="barrier", timeout=None):
        with self.watchdog.guard(what, timeout):
            self.comm.Barrier()

    def local_rank(self):
        """This rank's number among the ranks on the same machine (to pick a GPU)."""
        if self._local_rank is None:
            with self.watchdog.guard("split by machine"):
                self._local_rank = self.comm.Split_type(self.MPI.COMM_TYPE_SHARED).Get_rank()
        return self._local_rank

    def abort(self, message, code=1):
        """Print ``error: rank R of K: message`` and end every rank of the job."""
        print(f"error: rank {self.rank} of {self.size}: {message}", file=sys.stderr, flush=True)
        self.comm.Abort(code)

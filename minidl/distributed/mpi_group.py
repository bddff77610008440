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
"""
import math
import sys

from minidl import backend
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
            layouts = self.comm.allgather((host.shape, host.dtype.str))
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

    def allgather_object(self, value, what="all-gather of a Python object"):
        """``[value of rank 0, value of rank 1, ...]`` for any picklable value."""
        with self.watchdog.guard(what):
            return self.comm.allgather(value)

    def broadcast_object(self, value, root=0, what="broadcast of a Python object"):
        """``value`` of rank ``root``, on every rank."""
        with self.watchdog.guard(what):
            return self.comm.bcast(value, root=root)

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

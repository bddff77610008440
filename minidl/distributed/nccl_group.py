"""A process group over NCCL: collectives on CuPy arrays that stay on the GPUs.

One process per GPU. NCCL needs a shared secret to find its peers, the
"unique id": rank 0 draws it and MPI broadcasts it, then every rank joins the
NCCL communicator on its own GPU (chosen by its rank among the processes on
the same machine, so 4 ranks on each of 2 machines use GPUs 0..3 on each):

    mpiexec -n 4 python train.py --device gpu      # group = NCCLProcessGroup()

NCCL calls are queued on the current CUDA stream and return at once; the
group waits for the stream under the collective timeout, so a dead peer ends
the job with a message rather than a hang, and aborts the NCCL communicator
first. Host (NumPy) arrays go through the underlying MPI group, so code that
gathers host-side predictions works with either group.

This module imports without CuPy; creating the group needs it (the ``gpu``
extra) and a GPU per rank.
"""
from minidl import backend
from minidl.distributed.group import ProcessGroup
from minidl.distributed.mpi_group import MPIProcessGroup


def _nccl():
    if backend.cupy is None:
        raise backend.DeviceError("NCCLProcessGroup needs CuPy: pip install -e '.[gpu,distributed]'")
    from cupy.cuda import nccl
    return nccl


def _nccl_dtype(nccl, array, what):
    types = {"float32": nccl.NCCL_FLOAT32, "float64": nccl.NCCL_FLOAT64, "float16": nccl.NCCL_FLOAT16,
             "int32": nccl.NCCL_INT32, "int64": nccl.NCCL_INT64, "uint8": nccl.NCCL_UINT8}
    if str(array.dtype) not in types:
        raise TypeError(f"{what}: NCCL has no type for {array.dtype}")
    if not array.flags.c_contiguous:
        raise ValueError(f"{what}: the array must be C-contiguous, got strides {array.strides}")
    return types[str(array.dtype)]


class NCCLProcessGroup(ProcessGroup):
    """The ranks of ``mpi_group`` (default: all), talking over NCCL on one GPU each.

    device_id: the GPU of this rank (default: its local rank modulo the GPUs
    this machine has).
    """

    def __init__(self, mpi_group=None, device_id=None):
        self.nccl = _nccl()
        cupy = backend.cupy
        self.mpi = mpi_group or MPIProcessGroup()
        self.rank, self.size = self.mpi.rank, self.mpi.size
        if device_id is None:
            device_id = self.mpi.local_rank() % cupy.cuda.runtime.getDeviceCount()
        cupy.cuda.Device(device_id).use()
        self.comm = None
        self.mpi.watchdog.expire = self.abort  # a timeout must abort NCCL too
        # CuPy's id is a tuple of 128 small ints: it travels as JSON, not as a pickle.
        unique_id = list(self.nccl.get_unique_id()) if self.rank == 0 else None
        unique_id = tuple(self.mpi.broadcast_json(unique_id, what="broadcast of the NCCL unique id"))
        with self.mpi.watchdog.guard("joining the NCCL communicator"):
            self.comm = self.nccl.NcclCommunicator(self.size, unique_id, self.rank)

    def _finish(self, what):
        """Wait for the queued NCCL call under the collective timeout."""
        with self.mpi.watchdog.guard(what):
            backend.cupy.cuda.get_current_stream().synchronize()

    def allreduce(self, array, what="all-reduce"):
        if not backend.is_device_array(array):
            return self.mpi.allreduce(array, what)
        dtype = _nccl_dtype(self.nccl, array, what)
        stream = backend.cupy.cuda.get_current_stream()
        self.comm.allReduce(array.data.ptr, array.data.ptr, array.size, dtype, self.nccl.NCCL_SUM, stream.ptr)
        self._finish(what)
        return array

    def broadcast(self, array, root=0, what="broadcast"):
        if not backend.is_device_array(array):
            return self.mpi.broadcast(array, root, what)
        dtype = _nccl_dtype(self.nccl, array, what)
        stream = backend.cupy.cuda.get_current_stream()
        self.comm.bcast(array.data.ptr, array.size, dtype, root, stream.ptr)
        self._finish(what)
        return array

    def allgather(self, array, what="all-gather"):
        """Concatenation on axis 0; NCCL needs equal counts, so shards are padded to the longest."""
        if not backend.is_device_array(array):
            return self.mpi.allgather(array, what)
        cupy = backend.cupy
        array = array.reshape(1) if array.ndim == 0 else array
        counts = self.mpi.allgather_json(int(array.shape[0]), what=f"{what} (shard sizes)")
        longest = max(counts)
        padded = cupy.zeros((longest,) + array.shape[1:], dtype=array.dtype)
        padded[:array.shape[0]] = array
        out = cupy.empty((self.size * longest,) + array.shape[1:], dtype=array.dtype)
        dtype = _nccl_dtype(self.nccl, padded, what)
        stream = cupy.cuda.get_current_stream()
        self.comm.allGather(padded.data.ptr, out.data.ptr, padded.size, dtype, stream.ptr)
        self._finish(what)
        return cupy.concatenate([out[r * longest:r * longest + n] for r, n in enumerate(counts)])

    def broadcast_json(self, value, root=0, what="broadcast of a JSON value"):
        return self.mpi.broadcast_json(value, root, what)

    def allgather_json(self, value, what="all-gather of a JSON value"):
        return self.mpi.allgather_json(value, what)

    def barrier(self, what="barrier", timeout=None):
        backend.cupy.cuda.get_current_stream().synchronize()
        self.mpi.barrier(what, timeout)

    def abort(self, message, code=1):
        """Abort the NCCL communicator (frees ranks blocked in NCCL), then the MPI job."""
        try:
            if self.comm is not None:
                self.comm.abort()
        finally:
            self.mpi.abort(message, code)

"""A stand-in for CuPy and its NCCL module, for checking NCCLProcessGroup without a GPU.

"Device" arrays are NumPy arrays of a subclass whose ``data.ptr`` is their
host address; the fake communicator follows the signatures documented for
``cupy.cuda.nccl.NcclCommunicator`` (raw pointers, element counts, NCCL type
and operation codes, a stream pointer) and carries them out with MPI on the
memory at those addresses. It proves the group's bookkeeping (pointers,
counts, padding, the unique id's trip through MPI), not NCCL itself.

``install()`` must run before minidl is imported.
"""
import ctypes
import sys
import types

import numpy as np
from mpi4py import MPI

NCCL_TYPES = {0: np.int8, 1: np.uint8, 2: np.int32, 4: np.int64, 6: np.float16, 7: np.float32, 8: np.float64}


class ndarray(np.ndarray):
    @property
    def data(self):
        return types.SimpleNamespace(ptr=self.ctypes.data)


def _device(a):
    return np.ascontiguousarray(a).view(ndarray)


def _at(ptr, count, nccl_type):
    dtype = np.dtype(NCCL_TYPES[nccl_type])
    return np.frombuffer((ctypes.c_char * (count * dtype.itemsize)).from_address(ptr), dtype=dtype)


class NcclCommunicator:
    calls = []

    def __init__(self, ndev, comm_id, rank):
        assert isinstance(comm_id, tuple) and len(comm_id) == 128, "CuPy wants the id as a tuple of 128 ints"
        assert all(isinstance(c, int) and -128 <= c < 128 for c in comm_id), "the id's ints are C chars"
        mine = np.array(comm_id, np.int8)
        first = mine.copy()
        MPI.COMM_WORLD.Bcast(first, root=0)
        assert np.array_equal(mine, first), "ranks hold different unique ids"
        assert (ndev, rank) == (MPI.COMM_WORLD.size, MPI.COMM_WORLD.rank)

    def allReduce(self, sendbuf, recvbuf, count, datatype, op, stream):
        assert sendbuf == recvbuf and op == 0
        self.calls.append("allReduce")
        MPI.COMM_WORLD.Allreduce(MPI.IN_PLACE, _at(recvbuf, count, datatype))

    def bcast(self, buff, count, datatype, root, stream):
        self.calls.append("bcast")
        MPI.COMM_WORLD.Bcast(_at(buff, count, datatype), root=root)

    def allGather(self, sendbuf, recvbuf, count, datatype, stream):
        self.calls.append("allGather")
        MPI.COMM_WORLD.Allgather(_at(sendbuf, count, datatype).copy(),
                                 _at(recvbuf, count * MPI.COMM_WORLD.size, datatype))

    def abort(self):
        self.calls.append("abort")


def install():
    cupy = types.ModuleType("cupy")
    cupy.ndarray = ndarray
    cupy.asarray = _device
    cupy.asnumpy = lambda a: np.array(a)
    cupy.empty = lambda *a, **k: np.empty(*a, **k).view(ndarray)
    cupy.zeros = lambda *a, **k: np.zeros(*a, **k).view(ndarray)
    cupy.zeros_like = lambda a, **k: np.zeros_like(np.asarray(a), **k).view(ndarray)
    cupy.concatenate = lambda arrays, **k: np.concatenate([np.asarray(a) for a in arrays], **k).view(ndarray)
    nccl = types.ModuleType("cupy.cuda.nccl")
    nccl.NcclCommunicator = NcclCommunicator
    # As CuPy's: the 128 bytes of ncclUniqueId as a tuple of signed chars.
    nccl.get_unique_id = lambda: tuple(int(c) for c in np.random.default_rng().integers(-128, 128, 128))
    for name, code in (("INT32", 2), ("INT64", 4), ("UINT8", 1), ("FLOAT16", 6), ("FLOAT32", 7), ("FLOAT64", 8)):
        setattr(nccl, f"NCCL_{name}", code)
    nccl.NCCL_SUM = 0
    stream = types.SimpleNamespace(ptr=0, synchronize=lambda: None)
    cuda = types.ModuleType("cupy.cuda")
    cuda.nccl = nccl
    cuda.runtime = types.SimpleNamespace(getDeviceCount=lambda: 1)
    cuda.Device = lambda index: types.SimpleNamespace(use=lambda: None)
    cuda.get_current_stream = lambda: stream
    cupy.cuda = cuda
    sys.modules.update({"cupy": cupy, "cupy.cuda": cuda, "cupy.cuda.nccl": nccl})
    return cupy

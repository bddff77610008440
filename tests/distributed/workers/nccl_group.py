"""NCCLProcessGroup on 2 ranks, with the CuPy/NCCL stand-in of ``fake_cupy``."""
import json
import sys

import fake_cupy

fake_cupy.install()

import numpy as np  # noqa: E402
from common import buffers_only_group  # noqa: E402

import minidl.distributed as dist  # noqa: E402
from minidl import Parameter, backend  # noqa: E402
from minidl.distributed.nccl_group import NCCLProcessGroup  # noqa: E402


def main():
    group = NCCLProcessGroup(buffers_only_group(timeout=60))  # no pickles, the unique id included
    rank = group.rank
    report = {}
    a = backend.to_device(np.arange(6, dtype=np.float32).reshape(2, 3) * (rank + 1), "gpu")
    report["allreduce"] = np.asarray(group.allreduce(a)).tolist()
    report["allreduce_on_device"] = backend.is_device_array(a)
    b = backend.to_device(np.full(3, rank, np.int64), "gpu")
    report["broadcast"] = np.asarray(group.broadcast(b, root=1)).tolist()
    g = backend.to_device(np.full((rank + 1, 2), float(rank)), "gpu")
    gathered = group.allgather(g)
    report["allgather"] = np.asarray(gathered).tolist()
    report["allgather_on_device"] = backend.is_device_array(gathered)
    report["host_allreduce"] = group.allreduce(np.ones(2)).tolist()  # NumPy arrays go through MPI
    rng = np.random.default_rng(rank)
    params = [Parameter(backend.to_device(rng.standard_normal(s), "gpu")) for s in ((3, 4), (5,), (2, 2, 2))]
    for p in params:
        p.grad[...] = backend.to_device(rng.standard_normal(p.shape), "gpu")
    expected = [group.mpi.allgather(np.asarray(p.grad)[None]).mean(axis=0) for p in params]
    dist.GradientAllReduce(params, group, bucket_bytes=64)()
    report["gradient_error"] = max(float(np.max(np.abs(np.asarray(p.grad) - e))) for p, e in zip(params, expected))
    report["nccl_calls"] = sorted(set(fake_cupy.NcclCommunicator.calls))
    if rank == 0:
        with open(sys.argv[1], "w") as f:
            json.dump(report, f)


if __name__ == "__main__":
    main()

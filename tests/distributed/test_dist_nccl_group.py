"""NCCLProcessGroup's bookkeeping on 2 ranks, with a CuPy/NCCL stand-in (no GPU here).

The stand-in (``workers/fake_cupy.py``) follows the documented signatures of
``cupy.cuda.nccl.NcclCommunicator`` and performs each call with MPI on the
memory behind the pointers it is given, so wrong pointers, counts, types or
padding show up as wrong sums. NCCL itself runs only on a machine with GPUs.
"""


def test_nccl_group_collectives_with_a_stand_in(mpirun):
    done, report = mpirun("nccl_group", n=2)
    assert done.returncode == 0, done.stderr
    assert report["allreduce"] == [[0.0, 3.0, 6.0], [9.0, 12.0, 15.0]] and report["allreduce_on_device"]
    assert report["broadcast"] == [1, 1, 1]
    assert report["allgather"] == [[0.0, 0.0], [1.0, 1.0], [1.0, 1.0]] and report["allgather_on_device"]
    assert report["host_allreduce"] == [2.0, 2.0]
    assert report["gradient_error"] < 1e-15
    assert report["nccl_calls"] == ["allGather", "allReduce", "bcast"]  # device arrays never took the MPI path

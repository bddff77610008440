"""Collective calls, model broadcast and bucketed gradient averaging on 2 real MPI ranks."""
import numpy as np


def test_collectives_broadcast_and_bucketed_gradient_mean(mpirun):
    done, report = mpirun("collectives", n=2)
    assert done.returncode == 0, done.stderr
    assert report["size"] == 2
    assert report["allreduce"] == (np.arange(6).reshape(2, 3) * 3).tolist()
    assert report["broadcast"] == [1.0] * 4
    assert report["allgather"] == [[0, 0], [1, 1], [1, 1]]
    assert report["allgather_3d"] == np.arange(36, dtype=np.float32).reshape(-1, 3, 2).tolist()
    assert "ranks disagree on the trailing shape or dtype: rank 0 (1, 2) <f8, rank 1 (1, 3) <f8" in report["mismatch"]
    # Metadata travels as JSON (the communicator of the workers refuses mpi4py's pickling calls).
    assert report["broadcast_json"] == {"run": "runs/rank1", "ids": [1, "é"]}
    assert report["allgather_json"] == [{"rank": 0, "name": "x"}, {"rank": 1, "name": "xx"}]
    assert report["unsendable"] == "TypeError"
    assert report["broadcast_module_equal"] and report["broadcast_module_is_rank0"]
    # 5 trainable tensors (the frozen batch-norm weight is left out) in a few
    # buckets, one call each, split by dtype.
    assert report["tensors"] == 5
    assert report["calls"] == report["buckets"] < report["tensors"]
    assert report["dtypes"] == ["float32", "float64"]
    assert report["max_error"] < 1e-6  # float32 bias: the mean rounded to float32
    assert report["frozen_untouched"]

"""Data-parallel steps on 2 ranks give the weights of one process on the same global batches."""
import pytest


@pytest.fixture(scope="module")
def report(mpirun_once):
    return mpirun_once.report("training")


@pytest.mark.parametrize("dtype, tolerance", [("float64", 1e-10), ("float32", 1e-5)])
def test_sync_batchnorm_run_equals_single_process(report, dtype, tolerance):
    assert report[dtype]["sync_vs_single"] < tolerance
    assert report[dtype]["ranks_bitwise_equal"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_plain_batchnorm_differs_only_through_batch_statistics(report, dtype):
    # Per-slice statistics change the result visibly...
    assert report[dtype]["plain_vs_single"] > 1e-3
    # ...and are the only difference: one process normalising each slice on
    # its own gives the same weights.
    assert report[dtype]["plain_vs_ghost"] < 1e-10

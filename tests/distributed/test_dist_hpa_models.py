"""hpa's parallel LeNet and GapNet: 2 ranks x 1 thread train the weights of 1 process on the global batch."""
import pytest

NETWORKS = ("parallel_lenet", "gapnet")


@pytest.fixture(scope="module")
def report(mpirun_once):
    return mpirun_once.report("hpa_models")


@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize("dtype, tolerance", [("float64", 1e-10), ("float32", 1e-5)])
def test_sync_batchnorm_run_equals_single_process(report, network, dtype, tolerance):
    assert report[f"{network}/{dtype}"]["sync_vs_single"] < tolerance


@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_without_sync_batchnorm_only_the_batch_statistics_differ(report, network, dtype):
    result = report[f"{network}/{dtype}"]
    assert result["plain_vs_single"] > 1e-3
    assert result["plain_vs_ghost"] < 1e-10

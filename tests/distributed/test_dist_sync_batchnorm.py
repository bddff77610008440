"""SyncBatchNorm on 2 ranks: gradient check, and equal to BatchNorm on the concatenated batch."""
import pytest

CASES = ("even", "uneven", "features")


@pytest.fixture(scope="module")
def report(mpirun_once):
    return mpirun_once.report("sync_batchnorm")


@pytest.mark.parametrize("case", CASES)
def test_gradient_check_across_two_ranks(report, case):
    assert report[f"gradcheck_{case}"] < 1e-6, report[f"gradcheck_{case}_report"]


@pytest.mark.parametrize("case", CASES)
def test_equals_batchnorm_on_the_whole_batch_in_float64(report, case):
    differences = report[f"versus_batchnorm_{case}"]
    assert set(differences) == {"y", "dx", "dgamma", "dbeta", "running_mean", "running_var"}
    assert max(differences.values()) < 1e-12, differences

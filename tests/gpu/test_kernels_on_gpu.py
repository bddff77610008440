"""Every kernel on the GPU against its NumPy twin (the cases of minidl/kernels/twins.py),
through the layers' own dispatch: the layer is moved to the GPU and called as usual."""
import numpy as np
import pytest

from minidl.kernels import twins

pytestmark = pytest.mark.gpu

CASES = [pytest.param(family, case, id=f"{family}-{name}")
         for family, (_, _, cases) in twins.CHECKS.items() for name, case in cases]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("family, case", CASES)
def test_kernel_matches_numpy_on_gpu(family, case, dtype):
    _, check, _ = twins.CHECKS[family]
    error = check(twins.Target.gpu(), case, np.dtype(dtype).type, np.random.default_rng(2))
    assert error <= twins.TOLERANCE[dtype], f"{family} {dtype}: max relative error {error:.3g}"

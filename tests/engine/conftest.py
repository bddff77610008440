"""Every engine test runs twice: on NumPy, and on a namespace with CuPy's names only.

The second run is as close to the GPU path as a machine without a GPU gets
with host arrays: it fails if compute code calls a function CuPy lacks, or
calls NumPy directly instead of the namespace ``minidl.backend.get_array_module``
returns (the direct call would bypass this stand-in only on the CPU, and break
on the GPU; the ``test_no_direct_numpy`` check finds those).

In the fake-device pass (``MINIDL_TEST_DEVICE=fake``) each test runs once,
as "fake-device": the gradient checks then run on the fake CUDA device, through
the layers' GPU paths and the kernels (see ``minidl.gradcheck``).
"""
import pytest
from strict_xp import StrictNamespace

from minidl import backend

PASSES = ["fake-device"] if backend.test_device() else ["numpy", "cupy-names"]


@pytest.fixture(params=PASSES, autouse=True)
def array_namespace(request):
    if request.param in ("numpy", "fake-device"):
        yield request.param
        return
    previous = backend.use_namespace(StrictNamespace())
    try:
        yield "cupy-names"
    finally:
        backend.use_namespace(previous)

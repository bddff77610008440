"""Every engine test runs twice: on NumPy, and on a namespace with CuPy's names only.

The second run is as close to the GPU path as a machine without a GPU gets: it
fails if compute code calls a function CuPy lacks, or calls NumPy directly
instead of the namespace ``minidl.backend.get_array_module`` returns (the direct
call would bypass this stand-in only on the CPU, and break on the GPU; the
``test_no_direct_numpy`` check finds those).
"""
import pytest

from minidl import backend
from strict_xp import StrictNamespace


@pytest.fixture(params=["numpy", "cupy-names"], autouse=True)
def array_namespace(request):
    if request.param == "numpy":
        yield "numpy"
        return
    previous = backend.use_namespace(StrictNamespace())
    try:
        yield "cupy-names"
    finally:
        backend.use_namespace(previous)

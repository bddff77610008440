"""Every kernel source compiles with nvcc for the H100/H200 architecture (sm_90), in both precisions."""
import pytest

from minidl.kernels import catalog, nvcc

NVCC = nvcc.find_nvcc()
needs_nvcc = pytest.mark.skipif(NVCC is None, reason="nvcc not found: CUDA toolkit not installed on this machine")


@needs_nvcc
@pytest.mark.parametrize("precision", list(catalog.PRECISIONS))
@pytest.mark.parametrize("source", catalog.sources(), ids=lambda p: p.name)
def test_source_compiles_for_sm90(source, precision):
    ok, message = nvcc.compile_source(source, precision, NVCC)
    assert ok, f"nvcc -arch={nvcc.ARCH} failed on {source.name} ({precision}):\n{message}"


@needs_nvcc
def test_a_broken_source_is_reported(tmp_path):
    broken = tmp_path / "broken.cu"
    broken.write_text('extern "C" __global__ void k(real* x) { x[0] = undefined_name; }\n')
    ok, message = nvcc.compile_source(broken, "float32", NVCC)
    assert not ok and "undefined_name" in message

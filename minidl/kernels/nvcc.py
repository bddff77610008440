"""Compile a kernel source with nvcc for the H100/H200 architecture (sm_90).

No GPU is needed: this checks that the source is valid CUDA for the device the
GPU path targets, in both precisions, on any machine with the CUDA toolkit.
(At run time CuPy compiles the same source with NVRTC, the same front end.)
"""
import os
import pathlib
import shutil
import subprocess
import tempfile

from minidl.kernels import catalog

ARCH = "sm_90"


def find_nvcc():
    """Path of nvcc (on PATH, or under $CUDA_HOME / /usr/local/cuda), or None."""
    found = shutil.which("nvcc")
    if found:
        return found
    for root in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if root and (pathlib.Path(root) / "bin" / "nvcc").exists():
            return str(pathlib.Path(root) / "bin" / "nvcc")
    return None


def compile_source(source, precision, nvcc=None):
    """(ok, message): compile ``source`` to an sm_90 cubin in a temporary folder."""
    nvcc = nvcc or find_nvcc()
    if nvcc is None:
        return False, "nvcc not found (install the CUDA toolkit or set CUDA_HOME)"
    with tempfile.TemporaryDirectory() as work:
        out = pathlib.Path(work) / "kernel.cubin"
        command = [nvcc, f"-arch={ARCH}", "-cubin", *catalog.PRECISIONS[precision], "-o", str(out), str(source)]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0 or not out.exists():
            return False, (result.stderr or result.stdout).strip()
        return True, f"{out.stat().st_size} bytes of {ARCH} code"

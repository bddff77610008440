"""numba or C++/OpenMP for the compiled CPU path: ``python -m minidl.bench.compiled_choice [--repeat 15]``.

The evaluation behind ``minidl/compiled`` (which compiler serves the CPU kernels), on ONE op: ReLU forward
(y = max(x, 0) and the mask x > 0) plus backward (dx = dy * mask) on a
16x32x128x128 float32 activation, three ways in one process, alternating
every repeat so load from other processes hits all three alike:

* numpy:  the reference's lines (``minidl/ops/relu.py``), one core, three passes;
* numba:  ``@njit(parallel=True)`` loops, one pass each way, over the cores;
* openmp: the same loops in C++ with ``#pragma omp parallel for``, built with
  g++ at first use into the CPU shim's private cache (``kernel_cache``), keyed
  by a hash of source and flags, and opened with ctypes.

Prints the median and quartiles of each, and the first-use cost (numba's
compile, g++'s build). Needs numba and g++.
"""
import argparse
import ctypes
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy

from minidl.bench import blas
from minidl.kernels.kernel_cache import cache_dir

CPP = r"""
#include <cstdint>
// g++ 12 vectorizes the backward loop only with the restrict pointers, an unconditional
// load of dy and the mask read as bytes (a bool condition became a masked load it could not do).
extern "C" void relu_forward(const float* __restrict__ x, float* __restrict__ y, bool* __restrict__ mask, int64_t n) {
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) { bool p = x[i] > 0.0f; mask[i] = p; y[i] = p ? x[i] : 0.0f; }
}
extern "C" void relu_backward(const float* __restrict__ dy, const uint8_t* __restrict__ mask, float* __restrict__ dx, int64_t n) {
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) { float d = dy[i]; dx[i] = mask[i] != 0 ? d : 0.0f; }
}
"""
FLAGS = ("-std=c++17", "-O3", "-march=native", "-fopenmp", "-shared", "-fPIC", "-fno-fast-math")


def build_openmp():
    """The OpenMP library, built once into the private kernel cache (hash of source and flags)."""
    digest = hashlib.sha256("\0".join([CPP, *FLAGS]).encode()).hexdigest()[:16]
    target = cache_dir() / f"relu_openmp-{digest}.so"
    if not target.exists():
        with tempfile.TemporaryDirectory(dir=cache_dir()) as work:
            unit = os.path.join(work, "relu.cpp")
            with open(unit, "w") as f:
                f.write(CPP)
            built = os.path.join(work, target.name)
            subprocess.run(["g++", *FLAGS, unit, "-o", built], check=True)
            os.replace(built, target)
    lib = ctypes.CDLL(str(target))
    ptr, n = ctypes.c_void_p, ctypes.c_int64
    lib.relu_forward.argtypes = [ptr, ptr, ptr, n]
    lib.relu_backward.argtypes = [ptr, ptr, ptr, n]
    return lib


def numba_kernels():
    """The loops with the options of ``minidl.compiled.jit`` (parallel, cached, IEEE)."""
    from minidl.compiled import jit

    @jit.kernel
    def forward(x, y, mask):
        for i in jit.prange(x.size):
            p = x[i] > 0
            mask[i] = p
            y[i] = x[i] if p else 0

    @jit.kernel
    def backward(dy, mask, dx):
        for i in jit.prange(dy.size):
            dx[i] = dy[i] if mask[i] else 0
    return forward, backward


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m minidl.bench.compiled_choice", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--shape", default="16,32,128,128")
    args = parser.parse_args(argv)
    shape = tuple(int(s) for s in args.shape.split(","))
    gen = numpy.random.default_rng(0)
    x = gen.standard_normal(shape, dtype=numpy.float32).ravel()
    dy = gen.standard_normal(shape, dtype=numpy.float32).ravel()

    start = time.perf_counter()
    lib = build_openmp()
    openmp_first = time.perf_counter() - start
    start = time.perf_counter()
    nb_forward, nb_backward = numba_kernels()
    y, mask, dx = numpy.empty_like(x), numpy.empty(x.shape, bool), numpy.empty_like(x)
    nb_forward(x, y, mask)
    nb_backward(dy, mask, dx)
    numba_first = time.perf_counter() - start

    def numpy_step():
        m = x > 0
        numpy.maximum(x, 0)
        return dy * m

    def numba_step():
        y, m, dx = numpy.empty_like(x), numpy.empty(x.shape, bool), numpy.empty_like(x)
        nb_forward(x, y, m)
        nb_backward(dy, m, dx)
        return dx

    def openmp_step():
        y, m, dx = numpy.empty_like(x), numpy.empty(x.shape, bool), numpy.empty_like(x)
        lib.relu_forward(x.ctypes.data, y.ctypes.data, m.ctypes.data, x.size)
        lib.relu_backward(dy.ctypes.data, m.ctypes.data, dx.ctypes.data, x.size)
        return dx

    steps = {"numpy": numpy_step, "numba": numba_step, "openmp": openmp_step}
    want = numpy_step()
    for name, step in steps.items():
        assert numpy.array_equal(step(), want), name
    times = {k: [] for k in steps}
    for _ in range(args.repeat):
        for name, step in steps.items():
            t = time.perf_counter()
            step()
            times[name].append((time.perf_counter() - t) * 1e3)
    from minidl.compiled.jit import numba
    print(f"{blas.header_line()}; numba {numba.__version__} ({numba.threading_layer()} layer, "
          f"{numba.get_num_threads()} threads); load average {os.getloadavg()[0]:.2f}")
    print(f"ReLU forward+backward, float32 {shape}, {args.repeat} alternating repeats")
    print(f"{'path':<8} {'median ms':>10} {'q1 ms':>8} {'q3 ms':>8}")
    for name, values in times.items():
        q1, _, q3 = statistics.quantiles(values, n=4)
        print(f"{name:<8} {statistics.median(values):>10.2f} {q1:>8.2f} {q3:>8.2f}")
    print(f"first use in this process: numba compile or cache load {numba_first:.2f} s, "
          f"g++ build or cache load {openmp_first:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

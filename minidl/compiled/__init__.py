"""Compiled, threaded CPU kernels (numba), registered in the op table above ``minidl/fast_cpu``.

Optional: ``pip install -e ".[fast]"`` installs numba. Without it nothing here
registers and the NumPy fast path serves, as before; the reference is always
there. ``MINIDL_COMPILED=0`` turns these kernels off while numba stays
installed: set when the op table loads, they are not registered; set later,
each one's ``supports`` declines (it is read at every lookup), so the next
implementation in the table (``minidl/fast_cpu``) serves. ``MINIDL_IMPL=reference``
turns off every fast path, these included.

Why: the CPU training step is bound by single-threaded NumPy passes around the
matrix products. NumPy makes one pass over memory per operation, on
one core; each kernel here makes one pass where NumPy makes several, and splits
it over the cores (``prange``). One file per trick, each with its measured gain.

Why numba and not C++/OpenMP. Both were tried on one op, ReLU forward+backward
on a float32 16x32x128x128 activation, with ``python -m minidl.bench.compiled_choice
--repeat 21`` (the three paths alternating in one process; 2-core AMD EPYC,
OpenBLAS Haswell kernel, shared with five other engineers, so loaded), medians
of three runs:

    numpy (the reference's lines, 1 core)     19.7  29.2  19.6 ms
    numba @njit(parallel=True)                 7.9  18.3   8.4 ms
    C++ -O3 -march=native -fopenmp, ctypes     7.7  16.0   8.1 ms

The same speed (both are memory bound at 2.4x NumPy), so the choice rests on
the rest. numba installs as a wheel, with no compiler (users on Windows and
macOS rarely have g++ with OpenMP); its kernels are Python loops that read like
the loop references in the tests; and LLVM vectorized them as written. The
C++ version needed three tries before g++ 12 vectorized its backward loop
(restrict pointers, an unconditional load, the mask read as bytes: before that
it took 24 ms, slower than NumPy). First use: numba compiles each kernel once
per dtype (about 0.5-1.5 s each on this machine) and keeps it in its on-disk
cache (``cache=True``, ``__pycache__`` beside these files or ``NUMBA_CACHE_DIR``),
later processes load it in well under a second.

Reproducible: every kernel gives bit-identical results on every run and for
any thread count. Element-wise kernels have no order to fix; the per-channel
reductions of batch norm run over one channel in one thread, in a fixed order
(see ``batch_norm_channels``), whatever the number of threads.
"""
import os

from minidl.compiled.jit import AVAILABLE  # noqa: F401  (whether numba imported)
from minidl.ops import registry

_turned_off = registry.ThreadSwitch()  # off()


def allowed_by_environment():
    """False under ``MINIDL_COMPILED=0``; ValueError for a value other than 0 or 1."""
    choice = os.environ.get("MINIDL_COMPILED", "")
    if choice not in ("", "0", "1"):
        raise ValueError(f"MINIDL_COMPILED={choice!r}: use 0 (compiled kernels off) or 1, or leave it unset")
    return choice != "0"


def enabled():
    """True when numba is installed, ``MINIDL_COMPILED`` is unset or "1", and no ``off()`` block is open."""
    return AVAILABLE and allowed_by_environment() and not _turned_off.is_on()


def register(op, name, module):
    """Register ``module`` as implementation ``name`` of ``op`` on the CPU, above the NumPy
    fast path, when numba is installed and ``MINIDL_COMPILED=0`` is not set as the table loads
    (then ``python -m minidl.ops`` and its check show the table users without the extra get)."""
    if AVAILABLE and allowed_by_environment():
        registry.register(op, device="cpu", name=name, impl=module, priority=2)


def off():
    """Inside the block (this thread) the compiled kernels decline: the NumPy fast path serves
    (the benchmarks' before/after in one process)."""
    return _turned_off.on()


def host_float(x):
    """The kernels serve host float32/float64 arrays while enabled."""
    return enabled() and getattr(x, "dtype", None) is not None and x.dtype.kind == "f" and x.dtype.itemsize in (4, 8) \
        and type(x).__module__ == "numpy"

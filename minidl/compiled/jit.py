"""numba's compilers when the ``fast`` extra is installed, plain Python stand-ins otherwise.

Every kernel module of ``minidl.compiled`` imports cleanly without numba (the
op table imports them all): its functions then stay plain Python and the module
registers nothing. With numba:

* ``kernel``: ``njit(parallel=True)``: ``prange`` loops are split over the cores;
* ``serial``: ``njit``: a helper called per channel or row inside a kernel.

Both use ``cache=True`` (compiled code kept on disk, keyed by source and types),
``nogil=True`` (other Python threads run meanwhile) and IEEE arithmetic (no
fastmath: no reassociation, so a result does not depend on vectorization), and
``error_model="numpy"`` (a division by zero gives inf like NumPy, not an exception).

numba's cache of a kernel is checked against its own source file only (its
time stamp and size), not against the files of the functions it calls: a
kernel therefore calls only helpers of its own file, or a changed helper
would leave stale compiled code behind.
"""
import os

try:
    import numba
except Exception:  # not installed, or an install that cannot load: the NumPy path serves, silently
    numba = None

AVAILABLE = numba is not None


def _start_threads_passively():
    """Start numba's thread pool with OpenMP's passive wait policy, unless the user chose one.

    By default an OpenMP worker thread spins after each parallel region, waiting
    for the next; on a machine with no idle core that spinning takes the core
    from OpenBLAS's threads and from the main thread. Measured on the 2 loaded
    cores (load average 7.5): ReLU forward+backward on 32x16x64x64 float32 took
    30-32 ms spinning against 3-4 ms passive (NumPy 7.3 ms). The variable is set
    only while the pool's OpenMP library starts (it reads it then) and removed
    again, so other OpenMP users (PyTorch's own copy, worker processes) keep theirs.
    """
    chosen = "OMP_WAIT_POLICY" in os.environ
    if not chosen:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        numba.get_num_threads()  # starts the pool (the threading layer's library loads here)
    except Exception:  # no threading layer could start: kernels would fail, so none registers
        return False
    finally:
        if not chosen:
            del os.environ["OMP_WAIT_POLICY"]
    return True


AVAILABLE = AVAILABLE and _start_threads_passively()
_OPTIONS = dict(cache=True, nogil=True, error_model="numpy")


def kernel(function):
    return numba.njit(parallel=True, **_OPTIONS)(function) if AVAILABLE else function


def serial(function):
    return numba.njit(**_OPTIONS)(function) if AVAILABLE else function


prange = numba.prange if AVAILABLE else range


def threads():
    """Threads the kernels split over (1 without numba)."""
    return numba.get_num_threads() if AVAILABLE else 1


def set_threads(count):
    """Use ``count`` threads (at most numba's NUMBA_NUM_THREADS) from now on, in this thread."""
    if AVAILABLE:
        numba.set_num_threads(count)

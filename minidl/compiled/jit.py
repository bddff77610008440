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
try:
    import numba
except Exception:  # not installed, or an install that cannot load: the NumPy path serves, silently
    numba = None

AVAILABLE = numba is not None
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

"""Keep freed host memory for reuse, so a training step does not fault its arrays in again.

Every training step allocates and frees the same large arrays: activations,
their gradients, im2col columns. glibc's malloc serves a block above its mmap
threshold (128 KiB, rising with use to at most 32 MiB) by a fresh ``mmap`` and
hands it back to the kernel on ``free``, so each step faults its memory in and
the kernel zeroes it again. For the parallel LeNet (batch 32, 2 cores) that
was 0.37 s of system time per step, about 15% of the step's CPU time.

``keep_freed_memory()`` raises the threshold to 1 GiB (older glibc refuse more
than 32 MiB, which then still helps: 0.09 s) and never trims the heap: freed
blocks are reused by the next step (no page faults at all, system time 0.00 s).
The process then keeps its peak memory between steps instead of returning it,
which its peak resident size counts anyway.

It changes the whole process's malloc, so it is the application's choice, part
of the fast CPU path it opts into: ``import minidl`` leaves malloc alone; a
training command (``python -m hpa.train``, as the README says) and a benchmark
timing minidl's step call it first. Elsewhere
than glibc (macOS, musl) it does nothing and returns False.
"""
import ctypes

_M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
_M_MMAP_THRESHOLD = -3
_THRESHOLDS = (1 << 30, 32 << 20)  # what we want, and the most some older glibc accept


def keep_freed_memory():
    """Ask glibc's malloc to reuse freed large blocks; True if it agreed."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # no C library by that name, or not glibc
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    if not mallopt(_M_TRIM_THRESHOLD, 2 ** 31 - 1):
        return False
    return any(mallopt(_M_MMAP_THRESHOLD, threshold) for threshold in _THRESHOLDS)

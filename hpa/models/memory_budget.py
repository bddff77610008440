"""Build a network from a checkpoint's options within a memory budget.

A checkpoint's meta says which network to build, and its options set the
layer widths: a 400-byte file can ask for a network of many gigabytes, and
the build allocates (and randomly initialises) every weight before the file's
weights can be compared with them. The file's own weights bound what a
genuine build needs: about ``weights x`` :data:`BYTES_PER_WEIGHT_BYTE` (the
float64 draw of each initial value, its float32 copy and its gradient) plus
:data:`SLACK` for the Python objects. :func:`address_space_budget` lowers the
process's address-space limit (``RLIMIT_AS``) to the current size plus that
budget while the network is built, so an oversized request fails at once with
``MemoryError``, and restores it afterwards.

Where ``RLIMIT_AS`` is unavailable or not enforced (not Linux), the build is
unguarded and only the bounds of :mod:`hpa.models.checkpoint_meta` apply.
Other threads share the limit while it is lowered; the build is short and
nothing else runs during it.
"""
import contextlib
import os

BYTES_PER_WEIGHT_BYTE = 8
SLACK = 512 * 2 ** 20


def budget_for(weight_bytes):
    """Bytes a genuine build of a network with ``weight_bytes`` bytes of weights may map."""
    return BYTES_PER_WEIGHT_BYTE * weight_bytes + SLACK


def _mapped_bytes():
    """The process's current address-space size (Linux ``/proc/self/statm``), or None."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


@contextlib.contextmanager
def address_space_budget(nbytes):
    """Within the block the process may map at most ``nbytes`` more bytes; beyond, allocations raise MemoryError."""
    try:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, AttributeError, OSError, ValueError):
        soft = hard = None
    used = _mapped_bytes()
    if used is None or soft is None:
        yield
        return
    limit = used + nbytes
    for bound in (soft, hard):
        if bound != resource.RLIM_INFINITY:
            limit = min(limit, bound)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))

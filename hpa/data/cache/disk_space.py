"""Reserve a cache's disk space before writing it, so a full disk is an error message, not a crash.

The images file is written through a memory map. If its blocks are not
allocated, a full disk is only discovered when a page is written back, and
the kernel answers with SIGBUS: the process dies with "Bus error" and no
word of explanation. Allocating every block up front (``posix_fallocate``)
turns that into an immediate ENOSPC, reported as

    error: not enough free space in /data/cache: the size-512 cache needs 32,580,304,896 bytes ...
"""
import errno
import os
import shutil

import numpy as np

from hpa.runtime.errors import HpaError


def create_npy(path, dtype, shape, what):
    """Create the ``.npy`` file ``path`` for an array of ``shape`` with all its space reserved.

    ``what`` names the array in the error raised when the disk is too small.
    Returns nothing; open the file with ``np.load(path, mmap_mode="r+")``.
    """
    folder = os.path.dirname(os.path.abspath(path))
    needed = int(np.prod(shape)) * np.dtype(dtype).itemsize
    # An old file at ``path`` (a stale cache) is replaced, so its space counts as free.
    free = shutil.disk_usage(folder).free + (os.path.getsize(path) if os.path.exists(path) else 0)
    if free < needed:
        raise _too_small(folder, what, needed, free)
    np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape).flush()
    reserve(path, what)


def reserve(path, what):
    """Allocate every block of the existing file ``path`` (a no-op where it is already allocated)."""
    if not hasattr(os, "posix_fallocate"):  # not on macOS: the free-space check must do
        return
    folder = os.path.dirname(os.path.abspath(path))
    size = os.path.getsize(path)
    with open(path, "rb+") as f:
        try:
            os.posix_fallocate(f.fileno(), 0, size)
        except OSError as error:
            if error.errno == errno.ENOSPC:
                raise _too_small(folder, what, size, shutil.disk_usage(folder).free) from None
            if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise OSError(error.errno, error.strerror, path) from None
            # The file system cannot preallocate: the free-space check must do.


def _too_small(folder, what, needed, free):
    return HpaError(f"not enough free space in {folder}: {what} needs {needed:,} bytes ({_human(needed)}), "
                    f"{free:,} bytes are free; free some space or choose another --cache-dir")


def _human(count):
    return f"{count / 2**30:.1f} GiB" if count >= 2**30 else f"{count / 2**20:.1f} MiB"

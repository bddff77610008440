"""One builder per cache: a file lock, so two runs never fill the same cache at once.

Two training runs started together on the same data would otherwise both
build its cache, rewriting each other's progress file and images. The build
runs under an exclusive ``fcntl.flock`` on ``build_<S>.lock`` in the cache
folder; a second run says that it waits, blocks until the first has
finished, and then finds the complete cache and uses it. The operating
system drops the lock when its holder exits, however it ends (even kill -9),
so a stale lock never blocks anyone.
"""
import contextlib
import fcntl
import os
import sys

from hpa.runtime.errors import HpaError


@contextlib.contextmanager
def cache_build_lock(cache_dir, size, notify=None):
    """Hold the exclusive build lock of the size-``size`` cache in ``cache_dir`` within the block.

    ``notify(message)`` (default: print to stderr) is called once if
    another process holds the lock and this one has to wait.
    """
    path = os.path.join(cache_dir, f"build_{size}.lock")
    try:
        # Never through a symbolic link: one planted in a shared folder
        # would make this process create or lock a file of the link's choosing.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError:
        if os.path.islink(path):
            raise HpaError(f"{path} is a symbolic link, not a lock file; remove it, or choose another "
                           f"--cache-dir") from None
        raise
    with os.fdopen(fd, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            message = (f"waiting for another process that is building the size-{size} cache in {cache_dir} "
                       f"(it holds {path})")
            (notify or _to_stderr)(message)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _to_stderr(message):
    print(message, file=sys.stderr, flush=True)

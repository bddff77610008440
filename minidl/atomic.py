"""Write files so that a crash never leaves a half-written one behind.

Data goes to a temporary file in the same folder, is flushed to disk, and is
then renamed over the target in one step (``os.replace`` is atomic on POSIX
and Windows when both paths are on one file system).

The temporary file's name says who writes it: ``.<name>.<host>-<pid>.<random>.tmp<suffix>``
(``host``: 8 hex digits of a hash of the machine's name). So
:func:`remove_stale_temps` can tell the leftovers of a killed writer from the
file another live process (another run, another rank) is writing right now.
"""
import contextlib
import errno
import hashlib
import os
import socket
import tempfile
import time

# Unlabelled temporaries (written before writers were named) count as stale after this long untouched.
UNLABELLED_STALE_SECONDS = 24 * 3600


def writer_label():
    """``<host>-<pid>``: this process on this machine, as temporary file names carry it."""
    host = hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]
    return f"{host}-{os.getpid()}"


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on success rename it to ``path``.

    The caller writes the whole file to the yielded path. If the block raises,
    the temporary file is removed and ``path`` is left as it was.

        with atomic_path("model.npz") as tmp:
            np.savez(tmp, **arrays)
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    base = os.path.basename(path)
    # Keep the target's suffix: some writers (np.savez) append one otherwise.
    suffix = os.path.splitext(base)[1]
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.{writer_label()}.", suffix=f".tmp{suffix}", dir=folder)
    os.close(fd)
    try:
        try:
            yield tmp
        except OSError as error:
            if error.filename is not None or error.errno is None:
                raise
            # A write into an open file (e.g. a full disk) names no file: name the target.
            raise OSError(error.errno, error.strerror, path) from error
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        # mkstemp creates the file readable by its owner only; give it the
        # permissions an ordinary open() would have.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def remove_stale_temps(path):
    """Delete temporary files that interrupted atomic writes of ``path`` left behind.

    A process killed inside :func:`atomic_path` (kill -9, power loss) cannot
    clean up; its temporary file keeps the name pattern
    ``.<name>.<host>-<pid>.<random>.tmp<suffix>`` beside ``path``. Only files
    that are provably stale go: written on this machine by a process that no
    longer exists, or unlabelled (an older version's) and untouched for
    ``UNLABELLED_STALE_SECONDS``. A live writer's file, this process's
    included, and files of other machines (a shared folder) are kept.
    Returns the removed paths.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    prefix, suffix = f".{base}.", f".tmp{os.path.splitext(base)[1]}"
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    host = writer_label().split("-")[0]
    removed = []
    for name in sorted(names):
        if not (name.startswith(prefix) and name.endswith(suffix) and len(name) > len(prefix) + len(suffix)):
            continue
        full = os.path.join(folder, name)
        if _is_stale(name[len(prefix):-len(suffix)], full, host):
            with contextlib.suppress(FileNotFoundError):
                os.remove(full)
                removed.append(full)
    return removed


def _is_stale(middle, full, host):
    """Whether the temporary file ``full`` (``middle``: its name between prefix and suffix) is a leftover."""
    label, dot, _ = middle.partition(".")
    writer_host, dash, pid = label.partition("-")
    if dot and dash and len(writer_host) == 8 and pid.isdigit():
        return writer_host == host and not _process_exists(int(pid))
    try:  # unlabelled: only judged by age
        return time.time() - os.path.getmtime(full) > UNLABELLED_STALE_SECONDS
    except FileNotFoundError:
        return False


def _process_exists(pid):
    if os.name == "nt":  # os.kill(pid, 0) would end the process there: assume it lives
        return True
    try:
        os.kill(pid, 0)
    except OverflowError:
        return False
    except OSError as error:
        return error.errno != errno.ESRCH  # EPERM: it exists, as another user's process
    return True


def atomic_write_text(path, text):
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

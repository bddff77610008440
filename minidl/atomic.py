"""Write files so that a crash never leaves a half-written one behind.

Data goes to a temporary file in the same folder, is flushed to disk, and is
then renamed over the target in one step (``os.replace`` is atomic on POSIX
and Windows when both paths are on one file system).
"""
import contextlib
import os
import tempfile


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
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=f".tmp{suffix}", dir=folder)
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
    ``.<name>.<random>.tmp<suffix>`` beside ``path``. Call this when nothing
    else writes ``path``, e.g. when a run starts. Returns the removed paths.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    prefix, suffix = f".{base}.", f".tmp{os.path.splitext(base)[1]}"
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    removed = []
    for name in names:
        if name.startswith(prefix) and name.endswith(suffix) and len(name) > len(prefix) + len(suffix):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(folder, name))
                removed.append(os.path.join(folder, name))
    return removed


def atomic_write_text(path, text):
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

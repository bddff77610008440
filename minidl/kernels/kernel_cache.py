"""Where the CPU shim keeps its compiled kernels, and the check that the folder is the user's own.

A library in this folder is loaded with ``ctypes.CDLL`` and so runs as the
user: another local user able to put a file there could run code as them.
The folder therefore is

* ``$MINIDL_KERNEL_CACHE`` when set, else ``$XDG_CACHE_HOME/minidl/kernels``,
  else ``~/.cache/minidl/kernels`` (never a fixed name in the shared temp
  directory);
* created with mode 0700 when missing;
* refused (:class:`KernelCacheError`) when it, after following symlinks, is
  not a directory, is owned by another user, or is writable by its group or
  by others, or when its parent folder is writable by others without the
  sticky bit (``/tmp`` has it). A library found in it is held to the same
  rule before loading.

The folder is resolved once per check and the resolved path is what is
used, so swapping a symlink after the check does not redirect the load.
"""
import os
import pathlib
import stat


class KernelCacheError(RuntimeError):
    """The kernel cache folder, or a library in it, is not private to this user."""


def default_folder():
    """``$XDG_CACHE_HOME/minidl/kernels`` or ``~/.cache/minidl/kernels``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "minidl" / "kernels"


def cache_dir():
    """The private kernel cache folder (created 0700 if missing), resolved and checked."""
    folder = pathlib.Path(os.environ.get("MINIDL_KERNEL_CACHE") or default_folder())
    missing, path = [], folder
    while not os.path.lexists(path):
        missing.append(path)
        path = path.parent
    for path in reversed(missing):  # each new folder 0700, parents too: a umask of 002 must not open them
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:  # made at the same moment by another process: checked below
            pass
    folder = folder.resolve()
    check_private(folder, "folder")
    _check_parent(folder)
    return folder


def _check_parent(folder):
    """Refuse a folder whose parent others may write without the sticky bit: they could swap it for theirs."""
    info = os.stat(folder.parent)
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not info.st_mode & stat.S_ISVTX:
        raise KernelCacheError(f"kernel cache {folder} is in {folder.parent}, which others may write "
                               f"(mode {stat.S_IMODE(info.st_mode):o}, no sticky bit) and so replace the cache; "
                               f"set MINIDL_KERNEL_CACHE to a folder of your own (mode 0700)")


def check_private(path, what):
    """Raise :class:`KernelCacheError` unless ``path`` is this user's and only this user may write it.

    what: "folder" (must be a directory) or "library" (must be a regular file).
    """
    try:
        info = os.stat(path)
    except OSError as error:
        raise KernelCacheError(f"kernel cache {path}: {error.strerror}") from None
    kind_ok = stat.S_ISDIR(info.st_mode) if what == "folder" else stat.S_ISREG(info.st_mode)
    where = f"kernel cache {path}" if what == "folder" else f"kernel cache library {path}"
    advice = "refusing to load kernels from it; set MINIDL_KERNEL_CACHE to a folder of your own (mode 0700)"
    if not kind_ok:
        raise KernelCacheError(f"{where} is not a {'directory' if what == 'folder' else 'regular file'}: {advice}")
    euid = os.geteuid() if hasattr(os, "geteuid") else info.st_uid
    if info.st_uid != euid:
        raise KernelCacheError(f"{where} is owned by uid {info.st_uid}, not by you (uid {euid}): {advice}")
    writable = [who for who, bit in (("group", stat.S_IWGRP), ("others", stat.S_IWOTH)) if info.st_mode & bit]
    if writable:
        raise KernelCacheError(f"{where} is writable by {' and '.join(writable)} "
                               f"(mode {stat.S_IMODE(info.st_mode):o}): {advice}")

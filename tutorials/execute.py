"""Execute the tutorial notebooks and store them with their outputs, so a reader sees them without running.

    python tutorials/execute.py                      # every notebook, in order
    python tutorials/execute.py 04 tutorials/09_*.ipynb   # some (by number or path)
    python tutorials/execute.py --check              # run nothing: are the stored outputs current?

Each notebook runs top to bottom in a fresh ``python3`` kernel started in
``tutorials/``, as a reader runs it: the checkout first on ``PYTHONPATH``, the
hpa image cache (``HPA_CACHE``) in a temporary folder removed afterwards. A
notebook that raises is left as it was and the command exits 1; one that runs is
written back atomically (``minidl.atomic``) with its outputs and, in its
metadata under ``"tutorial"``:

* ``code_hash``: SHA-256 of what defines the run, i.e. :func:`code_hash`: the
  kernel's name and every code cell's source, in order. Markdown is left out
  (editing prose changes no output); any edit of a code cell changes the hash,
  and ``tests/test_tutorials.py`` then fails until the notebook is executed again.
* ``seconds``: how long the run took (on the machine named in ``machine``), for
  the course table in ``tutorials/README.md``;
* ``real_data``: whether ``shared/hpa-real`` was beside the checkout (several
  notebooks show real images when it is, synthetic ones otherwise).

Execution timestamps are not stored, so executing twice changes only what the
run itself printed or drew. Ctrl-C or SIGTERM stops the command after the kernel
is shut down (nbclient's own handling), leaving the notebook being executed as it was.
"""
import argparse
import hashlib
import os
import pathlib
import platform
import sys
import tempfile
import time

TUTORIALS = pathlib.Path(__file__).resolve().parent
ROOT = TUTORIALS.parent
REAL_DATA = ROOT.parent / "shared" / "hpa-real"
KERNEL = "python3"
CELL_TIMEOUT = 900  # seconds for any one cell on a busy two-core machine
HASH_VERSION = 1    # bump when code_hash changes what it covers


def notebooks():
    """The course's notebooks, in order."""
    return sorted(TUTORIALS.glob("[0-9][0-9]_*.ipynb"))


def code_hash(nb):
    """SHA-256 (hex) of what defines a notebook's outputs: kernel name and code cells, in order."""
    digest = hashlib.sha256(f"tutorial-hash-{HASH_VERSION}\0{KERNEL}\0".encode())
    for cell in nb.cells:
        if cell.cell_type == "code":
            source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
            digest.update(source.encode("utf-8"))
            digest.update(b"\0cell\0")
    return digest.hexdigest()


def stored_state(nb):
    """The ``"tutorial"`` metadata a run stored, or {} if it was never executed by this command."""
    return dict(nb.metadata.get("tutorial", {}))


def is_current(nb):
    """True when the stored outputs were produced from the notebook's current code cells."""
    return stored_state(nb).get("code_hash") == code_hash(nb)


def _strip_volatile(nb):
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # run timestamps
    nb.metadata["language_info"] = {"name": "python"}  # not the patch version of whoever ran it


def execute(path, log=print):
    """Run the notebook at ``path`` and store it with its outputs; return the seconds it took.

    Raises ``nbclient.exceptions.CellExecutionError`` (the file is then untouched).
    """
    import nbclient
    import nbformat

    from minidl.atomic import atomic_write_text

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:  # start clean: no output of an earlier run survives a cell that now prints nothing
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    env_before = {k: os.environ.get(k) for k in ("PYTHONPATH", "HPA_CACHE")}
    with tempfile.TemporaryDirectory(prefix="hpa-tutorial-cache-") as cache:
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env_before["PYTHONPATH"]]))
        os.environ["HPA_CACHE"] = cache
        try:
            client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name=KERNEL, record_timing=False,
                                             resources={"metadata": {"path": str(TUTORIALS)}})
            start = time.perf_counter()
            client.execute()
            seconds = time.perf_counter() - start
        finally:
            for key, value in env_before.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    _strip_volatile(nb)
    nb.metadata["tutorial"] = {"code_hash": code_hash(nb), "seconds": round(seconds, 1),
                               "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
                               "real_data": REAL_DATA.is_dir()}
    atomic_write_text(path, nbformat.writes(nb) + "\n")
    return seconds


class UsageError(Exception):
    """A notebook argument that names no notebook, or a file that is not one: ``error: ...``, exit code 2."""


def _resolve(names):
    if not names:
        return notebooks()
    found = []
    for name in names:
        path = pathlib.Path(name)
        if not path.is_file():
            matches = [p for p in notebooks() if p.name.startswith(name)]
            if len(matches) != 1:
                raise UsageError(f"{name}: names {len(matches)} notebooks in {TUTORIALS}, expected one")
            path = matches[0]
        found.append(path.resolve())
    return found


def _read(path):
    import nbformat
    try:
        return nbformat.read(path, as_version=4)
    except Exception as error:  # JSON, schema and encoding errors alike: not a notebook we can run
        raise UsageError(f"{path}: not a readable notebook ({type(error).__name__})") from None


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python tutorials/execute.py", description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", help="paths, or number prefixes such as 04 (default: all)")
    parser.add_argument("--check", action="store_true", help="execute nothing; list stale notebooks, exit 1 if any")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))  # minidl.atomic from this checkout
    try:
        paths = _resolve(args.notebooks)
        books = {p: _read(p) for p in paths}  # every argument checked before anything runs
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.check:
        stale = [p.name for p in paths if not is_current(books[p])]
        for name in stale:
            print(f"stale: {name} (run python tutorials/execute.py {name[:2]})")
        print(f"{len(paths) - len(stale)} of {len(paths)} notebooks hold outputs of their current code")
        return 1 if stale else 0
    from nbclient.exceptions import CellExecutionError

    failed = []
    for path in paths:
        print(f"{path.name} ...", flush=True)
        try:
            seconds = execute(path)
        except CellExecutionError as error:
            failed.append(path.name)
            print(f"error: {path.name} failed, left unchanged:\n{error}", file=sys.stderr)
            continue
        except (Exception, KeyboardInterrupt) as error:
            # While a notebook runs, nbclient answers Ctrl-C and SIGTERM by shutting its kernel down; the
            # run then ends in DeadKernelError (or an error of that cleanup), as it does when the kernel dies.
            print(f"error: executing {path.name} stopped (interrupted, or its kernel died: "
                  f"{type(error).__name__}); it is left unchanged", file=sys.stderr)
            return 130 if isinstance(error, KeyboardInterrupt) else 1
        print(f"{path.name}: executed in {seconds:.1f} s, stored", flush=True)
    if failed:
        print(f"error: {len(failed)} notebook(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmarks run NumPy as its users run it, and say which OpenBLAS kernel they got.

Some machines set ``OPENBLAS_CORETYPE`` (e.g. ``Haswell``) and
``OPENBLAS_L2_SIZE`` for old OpenBLAS builds; users' machines don't. On an
AVX-512 machine the first halves sgemm's peak (271 against 479-491 GFLOP/s),
so a benchmark run with it compares minidl against PyTorch on a NumPy its
users never see. OpenBLAS reads both when NumPy is imported, so they must be
gone from the environment before that: every benchmark measures in processes
of its own started without them (``users_environment``, ``without_overrides``
around spawn-context workers, ``main_as_users_run`` re-running a command),
never by changing the environment of tests or CI. Each prints ``kernel()``
(threadpoolctl's ``architecture`` and ``internal_api``) in its header.
"""
import contextlib
import os
import subprocess
import sys

OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def users_environment(env=None):
    """A copy of ``env`` (default ``os.environ``) without the OpenBLAS overrides."""
    return {k: v for k, v in (os.environ if env is None else env).items() if k not in OVERRIDES}


@contextlib.contextmanager
def without_overrides():
    """Unset the overrides while workers are started (spawned processes inherit the
    environment at their start), then put them back: the caller's own process, already
    running its NumPy, is left as it was."""
    saved = {k: os.environ.pop(k) for k in OVERRIDES if k in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def main_as_users_run(module, main, argv=None):
    """Run ``main(argv)``, in a fresh ``python -m module`` without the overrides if any is set.

    For a benchmark's ``if __name__ == "__main__"``: tests call ``main`` directly
    and keep their environment. Returns the exit code.
    """
    argv = sys.argv[1:] if argv is None else argv
    if not any(k in os.environ for k in OVERRIDES):
        return main(argv)
    try:
        return subprocess.run([sys.executable, "-m", module, *argv], env=users_environment()).returncode
    except KeyboardInterrupt:  # the child got the Ctrl-C too and stops on its own
        return 130


def kernel():
    """The BLAS this process's NumPy uses, e.g. ``"openblas 0.3.29, kernel SkylakeX, 2 threads"``;
    "unknown" without threadpoolctl (it comes with scikit-learn, in the dev extra)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    infos = [i for i in threadpool_info() if i["user_api"] == "blas"]
    return "; ".join(f"{i['internal_api']} {i.get('version')}, kernel {i.get('architecture', 'unknown')}, "
                     f"{i['num_threads']} threads" for i in infos) or "unknown (no BLAS found)"


def header_line(workers=False):
    """The line every benchmark's header prints: the kernel of the processes that measure
    (this one, or with ``workers`` one started as the workers are), and whether they run
    without the overrides, as users do."""
    env = users_environment() if workers else os.environ
    kept = [f"{k}={env[k]}" for k in OVERRIDES if k in env]
    how = f"NOT as users run: {' '.join(kept)}" if kept else f"as users run ({' and '.join(OVERRIDES)} unset)"
    return f"BLAS: {kernel_of_workers() if workers else kernel()}; {how}"


def kernel_of_workers():
    """``kernel()`` as a worker started without the overrides reports it (for a parent
    whose own NumPy was loaded with them)."""
    done = subprocess.run([sys.executable, "-c", "from minidl.bench import blas; print(blas.kernel())"],
                          env=users_environment(), capture_output=True, text=True)
    return done.stdout.strip() or "unknown"

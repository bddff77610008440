"""Find ``mpiexec`` and build the command that starts K ranks of a Python program.

The ``mpich`` wheel of the ``distributed`` extra installs ``mpiexec`` beside the
Python interpreter (its ``scripts`` folder), which need not be on ``PATH`` in
a virtual environment that is not activated; look there first.
"""
import os
import pathlib
import shutil
import sys
import sysconfig


def find_mpiexec():
    """Path of ``mpiexec``, or None."""
    beside_python = pathlib.Path(sysconfig.get_path("scripts")) / "mpiexec"
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("mpiexec")


def mpiexec_command(ranks, args, mpiexec=None):
    """``[mpiexec, -n, K, python, *args]``: this interpreter on ``ranks`` processes."""
    mpiexec = mpiexec or find_mpiexec()
    if mpiexec is None:
        raise FileNotFoundError("mpiexec not found: pip install -e '.[distributed]' installs MPICH's")
    return [mpiexec, "-n", str(ranks), sys.executable, *args]


def single_thread_environment(threads=1, **extra):
    """``os.environ`` with BLAS/OpenMP limited to ``threads`` per process (K ranks share the cores)."""
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(threads)
    env.update(extra)
    return env

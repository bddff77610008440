"""Launch real ``mpiexec -n K`` jobs of the worker scripts in ``workers/``.

Each test starts K Python processes through MPICH's ``mpiexec`` (from the
``mpich`` wheel of the ``distributed`` extra). Workers write a JSON report from
rank 0; the test reads it. Without mpi4py and an MPI library every test here
skips with the reason; single-process tests do not use this fixture.
"""
import json
import os
import pathlib
import subprocess
import sys

import pytest

from minidl.distributed.launch import find_mpiexec, single_thread_environment

ROOT = pathlib.Path(__file__).resolve().parents[2]
WORKERS = pathlib.Path(__file__).resolve().parent / "workers"


def _mpiexec():
    try:
        from mpi4py import MPI  # noqa: F401  (loads the MPI library: fails without one)
    except (ImportError, RuntimeError, OSError) as error:
        return None, f"mpi4py with an MPI library is not installed (pip install -e '.[distributed]'): {error}"
    found = find_mpiexec()
    if found is None:
        return None, "no mpiexec found beside this Python or on PATH"
    return found, ""


class MPIRun:
    """``run(worker, *args, n=2, timeout=...)`` -> (CompletedProcess, report dict or None)."""

    def __init__(self, mpiexec, tmp_path):
        self.mpiexec, self.tmp_path = mpiexec, tmp_path

    def env(self, **extra):
        env = single_thread_environment()  # one thread per rank: K ranks share this machine's cores
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        env.pop("MINIDL_DEVICE", None)
        env.update(extra)
        return env

    def __call__(self, worker, *args, n=2, timeout=180, env=None):
        report = self.tmp_path / f"{worker}-{n}.json"
        command = [self.mpiexec, "-n", str(n), sys.executable, str(WORKERS / f"{worker}.py"),
                   str(report), *map(str, args)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env=self.env(**(env or {})), cwd=str(self.tmp_path))
        data = json.loads(report.read_text()) if report.exists() else None
        return done, data

    def report(self, worker, n=2):
        """The report of a job that must succeed (its stderr is the failure message)."""
        done, data = self(worker, n=n)
        assert done.returncode == 0, done.stderr
        return data


def _launcher(folder):
    mpiexec, reason = _mpiexec()
    if mpiexec is None:
        pytest.skip(reason)
    return MPIRun(mpiexec, folder)


@pytest.fixture
def mpirun(tmp_path):
    """Launch one job per test."""
    return _launcher(tmp_path)


@pytest.fixture(scope="module")
def mpirun_once(tmp_path_factory):
    """Launch a job shared by the tests of a module (for module-scoped report fixtures)."""
    return _launcher(tmp_path_factory.mktemp("mpi"))

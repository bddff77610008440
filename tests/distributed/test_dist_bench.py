"""``python -m hpa.bench.distributed`` runs its three configurations and prints the table."""
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_benchmark_prints_every_configuration(mpirun):
    done = subprocess.run([sys.executable, "-m", "hpa.bench.distributed", "--image-size", "16", "--batch-size", "4",
                           "--steps", "1", "--repeats", "1"], capture_output=True, text=True, timeout=300,
                          env=mpirun.env(), cwd=str(mpirun.tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    for row in ("1 process x 1 thread", "1 process x 2 threads", "2 processes x 1 thread (MPI)",
                "grad all-reduce ms", "speed-up of 2 processes x 1 thread (MPI) over 1 process x 2 threads"):
        assert row in done.stdout

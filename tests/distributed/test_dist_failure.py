"""A rank that dies or stops ends the whole job, non-zero, with a message: never a hang."""
import time

import pytest


@pytest.mark.parametrize("mode, message", [
    ("kill", "BAD TERMINATION"),  # mpiexec notices the dead process and names it
    ("stop", "error: rank 0 of 2: all-reduce of step 3 did not complete within 3 s"),  # the collective timeout
    ("raise", "error: rank 1 of 2: RuntimeError: rank 1 failed on purpose"),  # abort_on_failure
])
def test_failed_rank_ends_the_job(mpirun, mode, message):
    start = time.monotonic()
    done, report = mpirun("failure", mode, n=2, timeout=60, env={"MINIDL_COLLECTIVE_TIMEOUT": "3"})
    assert done.returncode != 0
    assert report is None
    assert message in done.stdout + done.stderr
    assert time.monotonic() - start < 30

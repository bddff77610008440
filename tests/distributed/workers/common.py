"""Shared by the worker scripts: start the group, run the body, write rank 0's report.

A failing assertion or exception on any rank aborts the job (so the test
fails at once with the traceback instead of hanging).
"""
import json
import sys

import minidl.distributed as dist


def run(body, timeout=60):
    """``body(group, argv) -> report dict``, written as JSON by rank 0 to argv[1]."""
    group = dist.init_process_group("mpi", timeout=timeout)
    with dist.abort_on_failure(group):
        report = body(group, sys.argv[2:])
        if group.rank == 0:
            with open(sys.argv[1], "w") as f:
                json.dump(report, f)


def flat_state(model):
    """Every parameter and buffer of ``model`` as one float64 vector."""
    import numpy as np
    return np.concatenate([v.reshape(-1).astype(np.float64) for v in model.state_dict().values()])

"""A rank that fails mid-training: argv ``kill`` | ``stop`` | ``raise``.

Both ranks run all-reduces in a loop; at step 3 rank 1 kills itself
(SIGKILL: mpiexec notices), stops itself (SIGSTOP: alive but silent, only the
collective timeout can tell) or raises an exception. The job must end,
non-zero, with a message, instead of hanging.
"""
import os
import signal

import numpy as np
from common import run


def body(group, argv):
    mode = argv[0]
    gradient = np.ones(1000)
    for step in range(1000):
        if step == 3 and group.rank == 1:
            if mode == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            elif mode == "stop":
                os.kill(os.getpid(), signal.SIGSTOP)
            else:
                raise RuntimeError("rank 1 failed on purpose")
        group.allreduce(gradient, what=f"all-reduce of step {step}")
        gradient /= group.size
    return {"finished": True}


if __name__ == "__main__":
    run(body, timeout=float(os.environ.get("MINIDL_COLLECTIVE_TIMEOUT", "60")))

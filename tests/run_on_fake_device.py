"""Run a command on the fake CUDA device, in a process of its own.

    python tests/run_on_fake_device.py -m hpa.train --device gpu ARGS...

Installs the fake device (``fake_cuda.install``) in CuPy's place, then runs
the module as ``python -m`` would (``runpy``), with the same arguments and exit
code: the tests' way to run real commands with ``--device gpu`` in a child
process, without minidl knowing about test devices.
"""
import runpy
import sys

import fake_cuda

if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] != "-m":
        sys.exit("usage: python tests/run_on_fake_device.py -m MODULE [ARGS...]")
    fake_cuda.install()
    module, sys.argv = sys.argv[2], [sys.argv[2], *sys.argv[3:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)

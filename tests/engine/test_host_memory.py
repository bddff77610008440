"""host_memory: an explicit opt-in. ``import minidl`` leaves glibc's malloc alone;
after ``keep_freed_memory()`` a large freed block is reused without page faults."""
import os
import pathlib
import platform
import subprocess
import sys

import pytest

from minidl import host_memory

ROOT = pathlib.Path(__file__).resolve().parents[2]
# Minor page faults of 5 allocations of a 64 MiB array (above glibc's largest dynamic mmap
# threshold, 32 MiB), each freed before the next, after one allocation to warm up.
PROBE = """
import resource, sys
import numpy as np
import minidl
if sys.argv[1] == "keep":
    assert minidl.host_memory.keep_freed_memory()
def cycle():
    a = np.ones(16 << 20, dtype=np.float32)
    del a
cycle()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    cycle()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")


def _page_faults(mode):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


@glibc_only
def test_glibc_accepts_the_settings():
    assert host_memory.keep_freed_memory() is True


@glibc_only
def test_import_leaves_malloc_alone_and_the_opt_in_reuses_freed_blocks():
    after_import, opted_in = _page_faults("import"), _page_faults("keep")
    assert after_import >= 5 * 16  # every allocation faults its pages in again (at least 2 MiB ones)
    assert opted_in < after_import / 10

"""host_memory: glibc's malloc keeps freed blocks; the environment can opt out."""
import platform

import pytest

from minidl import host_memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_glibc_accepts_the_settings():
    assert host_memory.keep_freed_memory() is True


@pytest.mark.parametrize("value, enabled", [(None, True), ("1", True), ("0", False)])
def test_environment_switch(monkeypatch, value, enabled):
    if value is None:
        monkeypatch.delenv("MINIDL_KEEP_FREED_MEMORY", raising=False)
    else:
        monkeypatch.setenv("MINIDL_KEEP_FREED_MEMORY", value)
    assert host_memory.enabled_by_environment() is enabled

"""The CPU shim's kernel cache is private: a folder that is not the user's own is refused.

A shared library in the cache is loaded (``ctypes.CDLL``) and runs as the
user, so a folder another user owns or may write into could hold planted
code. These tests plant a library under the exact name the shim would load,
whose constructor writes a marker file, and check that it never runs.
"""
import os
import pathlib
import shutil
import stat
import subprocess
import sys

import pytest

from minidl.kernels import catalog, cpu_shim

SOURCE = next(iter(catalog.sources()))
needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")
PLANT = r'''
#include <stdio.h>
__attribute__((constructor)) static void planted(void) {
    FILE *f = fopen("%s", "w"); if (f) { fputs("ran", f); fclose(f); }
}
'''


def _plant(folder, marker):
    """A library under the name the shim loads for SOURCE/float32 that writes ``marker`` when loaded."""
    code = folder / "plant.c"
    code.write_text(PLANT % marker)
    target = folder / cpu_shim.library_name(SOURCE, "float32")
    subprocess.run(["g++", "-shared", "-fPIC", "-x", "c", str(code), "-o", str(target)], check=True)
    code.unlink()
    return target


def _run_cli(cache):
    env = {**os.environ, "MINIDL_KERNEL_CACHE": str(cache)}
    return subprocess.run([sys.executable, "-m", "minidl.kernels", "--run-on-cpu"],
                          capture_output=True, text=True, env=env, timeout=600)


@needs_gxx
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown to nobody needs root")
def test_a_folder_owned_by_someone_else_is_refused_and_its_library_never_loaded(tmp_path):
    cache, marker = tmp_path / "cache", tmp_path / "ran"
    cache.mkdir(mode=0o700)
    _plant(cache, marker)
    os.chown(cache, 65534, 65534)  # nobody
    result = _run_cli(cache)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: kernel cache ") and str(cache) in lines[0]
    assert "owned by uid 65534" in lines[0] and "Traceback" not in result.stderr
    assert not marker.exists()


@needs_gxx
@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702])
def test_a_folder_others_can_write_is_refused_and_its_library_never_loaded(tmp_path, monkeypatch, mode):
    cache, marker = tmp_path / "cache", tmp_path / "ran"
    cache.mkdir()
    _plant(cache, marker)
    cache.chmod(mode)
    monkeypatch.setenv("MINIDL_KERNEL_CACHE", str(cache))
    with pytest.raises(cpu_shim.KernelCacheError, match=f"kernel cache {cache} .*writable by "):
        cpu_shim.library_path(SOURCE, "float32")
    with pytest.raises(cpu_shim.KernelCacheError):
        cpu_shim._library(str(SOURCE), "float32")
    assert not marker.exists()


def test_a_symlink_to_a_folder_others_can_write_is_refused(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    (tmp_path / "link").symlink_to(shared)
    monkeypatch.setenv("MINIDL_KERNEL_CACHE", str(tmp_path / "link"))
    with pytest.raises(cpu_shim.KernelCacheError, match="writable by"):
        cpu_shim.cache_dir()


def test_a_folder_inside_a_folder_others_can_write_is_refused(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    (shared / "cache").mkdir(parents=True, mode=0o700)
    shared.chmod(0o777)  # without the sticky bit, anyone may rename cache/ and put theirs in its place
    monkeypatch.setenv("MINIDL_KERNEL_CACHE", str(shared / "cache"))
    with pytest.raises(cpu_shim.KernelCacheError, match="which others may write"):
        cpu_shim.cache_dir()
    shared.chmod(0o1777)  # as /tmp: only the owner may rename it
    assert cpu_shim.cache_dir() == shared / "cache"


def test_a_library_file_others_can_write_is_not_loaded(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("MINIDL_KERNEL_CACHE", str(cache))
    cpu_shim.cache_dir()
    target = cache / cpu_shim.library_name(SOURCE, "float32")
    target.write_bytes(b"not a library")
    target.chmod(0o666)
    with pytest.raises(cpu_shim.KernelCacheError, match=f"{target.name} .*writable by"):
        cpu_shim.library_path(SOURCE, "float32")


def test_the_default_folder_is_private_under_the_users_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("MINIDL_KERNEL_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    folder = cpu_shim.cache_dir()
    assert folder == tmp_path / "xdg" / "minidl" / "kernels"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and folder.stat().st_uid == os.geteuid()
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cpu_shim.cache_dir() == tmp_path / "home" / ".cache" / "minidl" / "kernels"


def test_a_new_named_folder_and_its_new_parents_are_made_private(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDL_KERNEL_CACHE", str(tmp_path / "a" / "b"))
    previous = os.umask(0o002)  # a common umask: new folders group-writable unless made 0700
    try:
        folder = cpu_shim.cache_dir()
    finally:
        os.umask(previous)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(folder.parent.stat().st_mode) == 0o700


@needs_gxx
def test_a_build_lands_whole_in_the_private_folder(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("MINIDL_KERNEL_CACHE", str(cache))
    built = cpu_shim.library_path(SOURCE, "float32")
    assert built.parent == cache and built.name == cpu_shim.library_name(SOURCE, "float32")
    assert [p.name for p in cache.iterdir()] == [built.name]  # no temporary file or folder left
    assert stat.S_IMODE(built.stat().st_mode) & 0o022 == 0


def test_ci_does_not_share_a_fixed_folder_in_the_temp_directory():
    line = next(text for text in (pathlib.Path(__file__).parents[2] / ".ci" / "run").read_text().splitlines()
                if "MINIDL_KERNEL_CACHE=" in text)
    assert "mktemp -d" in line and "minidl-kernels-ci}" not in line

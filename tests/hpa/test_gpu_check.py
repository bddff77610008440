"""python -m hpa.bench.gpu_check: its stages, files and exit codes, on the fake CUDA device
with tiny networks (the real run needs a GPU: see the README's GPU section)."""
import pathlib
import re
import sys

import pytest

from hpa.bench import gpu_check
from hpa.runtime import cli

TESTS = pathlib.Path(__file__).resolve().parents[1]
TINY = {"parallel_lenet": (16, 4), "gapnet": (16, 2)}


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setattr(gpu_check, "NETWORKS", TINY)
    commands = []

    def stage(command, limit):
        commands.append(command)
        return command[0] != "fail", f"output of {command[2]}\n"
    monkeypatch.setattr(gpu_check, "_stage", stage)
    monkeypatch.setattr(gpu_check.end_to_end, "KAGGLE_SAMPLES", 0)  # its own tests below
    return commands


def test_gpu_run_writes_every_report(fake_device, tiny, tmp_path, capsys):
    assert cli.run(gpu_check.main, ["--out", str(tmp_path), "--steps", "1", "--warmup", "1"]) == 0
    assert [c[1:3] for c in tiny] == [["-m", "pytest"], ["-m", "minidl.bench"]]
    assert "-m" in tiny[0] and "gpu" in tiny[0]
    for name in ("pytest_gpu", "layer_bench", "network_bench", "summary"):
        assert (tmp_path / f"{name}.txt").is_file()
    table = (tmp_path / "network_bench.txt").read_text()
    assert "parallel_lenet" in table and "gapnet" in table and "samples/s" in table
    assert table.startswith("numpy: BLAS: ")
    rows = {line.split()[0] + " " + line.split()[4]: line.split()[5] for line in table.splitlines()
            if line.startswith(("parallel_lenet ", "gapnet "))}
    # Both precisions of both networks, every fused run of layers on the fused kernels.
    assert rows == {"parallel_lenet float32": "6/6", "parallel_lenet TF32": "6/6",
                    "gapnet float32": "5/5", "gapnet TF32": "5/5"}
    assert "all stages passed" in capsys.readouterr().out


def test_a_failing_stage_fails_the_run(fake_device, tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(gpu_check, "LIMITS", {"tests": 1, "layers": 1})
    original = gpu_check.main

    def main(argv):
        monkeypatch.setattr(gpu_check.sys, "executable", "fail")
        return original(argv)
    assert cli.run(main, ["--out", str(tmp_path), "--steps", "1", "--warmup", "1"]) == 1
    assert "FAILED" in (tmp_path / "summary.txt").read_text()


def test_cpu_baseline_and_no_gpu_error(tiny, tmp_path, capsys):
    assert cli.run(gpu_check.main, ["--out", str(tmp_path), "--device", "cpu", "--steps", "1",
                                    "--warmup", "1"]) == 0
    assert tiny == []  # no GPU stages on the CPU
    assert "device cpu" in (tmp_path / "network_bench.txt").read_text()
    assert " 0/6 " in (tmp_path / "network_bench.txt").read_text()  # on the CPU the layers run as they are
    if gpu_check.md.backend.cupy is None:
        assert cli.run(gpu_check.main, ["--out", str(tmp_path)]) == 2
        assert capsys.readouterr().err.startswith("error: --device gpu")


def _end_to_end_rows(text):
    return re.findall(r"^(\w+)\s+(\d+) px\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)x\s+(\d+)", text, re.M)


def _check_end_to_end(tmp_path, capsys):
    text = (tmp_path / "end_to_end.txt").read_text()
    assert "one epoch of 32 generated samples" in text
    rows = _end_to_end_rows(text)
    assert [(name, int(size), int(batch)) for name, size, batch, *_ in rows] == [
        (name, size, batch) for name, (size, batch) in TINY.items()]
    for _, _, _, step, train, ratio, _ in rows:
        assert float(step) > 0 and float(train) > 0
        assert float(ratio) == pytest.approx(float(train) / float(step), rel=0.03, abs=0.01)  # the step rate is printed rounded
    assert "all stages passed" in capsys.readouterr().out


@pytest.mark.slow
def test_end_to_end_table_trains_one_epoch_on_the_fake_device(fake_device, tiny, tmp_path, monkeypatch, capsys):
    # hpa.train --device gpu in a process of its own, on the fake device there too.
    monkeypatch.setattr(gpu_check.end_to_end, "TRAIN_COMMAND",
                        [sys.executable, str(TESTS / "run_on_fake_device.py"), "-m", "hpa.train"])
    assert cli.run(gpu_check.main, ["--out", str(tmp_path), "--steps", "1", "--warmup", "1", "--skip-tests",
                                    "--samples", "32"]) == 0
    _check_end_to_end(tmp_path, capsys)


@pytest.mark.slow
def test_end_to_end_table_on_the_cpu(tiny, tmp_path, capsys):
    assert cli.run(gpu_check.main, ["--out", str(tmp_path), "--device", "cpu", "--steps", "1", "--warmup", "1",
                                    "--samples", "32"]) == 0
    _check_end_to_end(tmp_path, capsys)


def test_a_failing_training_run_fails_the_end_to_end_stage(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(gpu_check.end_to_end, "TRAIN_COMMAND", [sys.executable, "-c", "raise SystemExit(3)"])
    assert cli.run(gpu_check.main, ["--out", str(tmp_path), "--device", "cpu", "--steps", "1", "--warmup", "1",
                                    "--samples", "8"]) == 1
    assert "exited with 3" in (tmp_path / "end_to_end.txt").read_text()
    assert "FAILED: end_to_end" in (tmp_path / "summary.txt").read_text()

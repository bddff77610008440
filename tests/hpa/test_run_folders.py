"""What a run folder promises: never overwritten unless --overwrite or resuming, unique default names,
atomic files, and a start-up clean-up that never deletes a file another live run is writing.
"""
import os
import shutil
import subprocess
import sys
import types

import pytest
from tiny_runs import TINY_LENET, one_line_error, train_one_epoch

from hpa import evaluate, train
from hpa.runtime import cli
from hpa.runtime.errors import HpaError
from hpa.training import run_folder
from minidl.atomic import atomic_path, remove_stale_temps


@pytest.fixture(scope="module")
def one_epoch(tiny_synthetic, tmp_path_factory):
    """(run folder after one epoch, its cache folder)."""
    root = train_one_epoch(tiny_synthetic, tmp_path_factory.mktemp("one_epoch"))
    return root / "run", root / "cache"


def snapshot(folder):
    """{relative path: bytes} of every file under ``folder``."""
    return {os.path.relpath(os.path.join(d, name), folder): open(os.path.join(d, name), "rb").read()
            for d, _, names in os.walk(folder) for name in names}


@pytest.fixture
def existing_run(one_epoch, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(one_epoch[0], run)
    return run


def test_out_holding_a_run_is_refused_and_left_as_it_was(tiny_synthetic, one_epoch, existing_run, capsys):
    before = snapshot(existing_run)
    argv = [*TINY_LENET, "--data", str(tiny_synthetic), "--epochs", "1", "--seed", "7", "--out", str(existing_run),
            "--cache-dir", str(one_epoch[1])]
    assert cli.run(train.main, argv) == 2
    err = one_line_error(capsys)
    assert f"--out {existing_run}: " in err and "not empty" in err and "--overwrite" in err and "--resume" in err
    assert snapshot(existing_run) == before


def test_overwrite_replaces_the_run(tiny_synthetic, one_epoch, existing_run):
    before = snapshot(existing_run)
    argv = [*TINY_LENET, "--data", str(tiny_synthetic), "--epochs", "1", "--seed", "7", "--out", str(existing_run),
            "--cache-dir", str(one_epoch[1]), "--overwrite"]
    assert cli.run(train.main, argv) == 0
    assert snapshot(existing_run)["best.npz"] != before["best.npz"]


def test_resuming_writes_into_the_run_folder_also_when_out_names_it(tiny_synthetic, one_epoch, existing_run):
    argv = [*TINY_LENET, "--data", str(tiny_synthetic), "--epochs", "2", "--resume", str(existing_run / "last.npz"),
            "--out", str(existing_run), "--cache-dir", str(one_epoch[1])]
    assert cli.run(train.main, argv) == 0


def test_resuming_into_another_folder_that_holds_a_run_is_refused(tiny_synthetic, one_epoch, existing_run, tmp_path,
                                                                  capsys):
    other = tmp_path / "other"
    shutil.copytree(existing_run, other)
    argv = [*TINY_LENET, "--data", str(tiny_synthetic), "--epochs", "2", "--resume", str(existing_run / "last.npz"),
            "--out", str(other), "--cache-dir", str(one_epoch[1])]
    assert cli.run(train.main, argv) == 2
    assert f"--out {other}: " in one_line_error(capsys)


@pytest.mark.parametrize("beside", ["best.npz beside", "checkpoint alone"])
def test_a_run_resumed_into_a_new_folder_keeps_its_best_epoch(tiny_synthetic, one_epoch, existing_run, tmp_path,
                                                              beside):
    """The end of a run reads best.npz of its own folder, and a resumed run writes one only when
    an epoch beats the checkpoint's best: resumed into a new folder, it brings its best along."""
    checkpoint = existing_run / "last.npz"
    if beside == "checkpoint alone":  # written at the end of its best epoch: it is that epoch's weights
        checkpoint = tmp_path / "alone" / "last.npz"
        checkpoint.parent.mkdir()
        shutil.copy(existing_run / "last.npz", checkpoint)
    argv = [*TINY_LENET, "--data", str(tiny_synthetic), "--epochs", "2", "--early-stopping", "0",
            "--resume", str(checkpoint), "--out", str(tmp_path / "new"), "--cache-dir", str(one_epoch[1])]
    assert cli.run(train.main, argv) == 0
    assert (tmp_path / "new" / "best.npz").exists()
    if beside == "best.npz beside":
        assert len((tmp_path / "new" / "metrics.csv").read_text().splitlines()) == 1 + 2  # header, both epochs


def test_a_resumed_run_whose_best_weights_are_nowhere_is_refused_before_training(tmp_path):
    saved = []
    trainer = types.SimpleNamespace(stopper=types.SimpleNamespace(best_epoch=0), start_epoch=2, position=None,
                                    save=lambda name, epoch: saved.append(name))
    (tmp_path / "alone").mkdir()
    with pytest.raises(HpaError, match=r"its best epoch \(1\) is not in this checkpoint and there is no best.npz"):
        run_folder.keep_best_beside(tmp_path / "alone" / "last.npz", tmp_path / "new", trainer)
    trainer.start_epoch = 1  # written at the end of its best epoch: saved as best.npz
    run_folder.keep_best_beside(tmp_path / "alone" / "last.npz", tmp_path / "new", trainer)
    assert saved == ["best.npz"]


def test_a_kfold_run_adds_folds_but_never_retrains_one_into_it(tiny_synthetic, one_epoch, tmp_path, capsys):
    out = tmp_path / "kfold"
    common = [*TINY_LENET, "--data", str(tiny_synthetic), "--epochs", "1", "--folds", "2", "--out", str(out),
              "--cache-dir", str(one_epoch[1])]
    assert cli.run(train.main, [*common, "--fold", "0"]) == 0
    before = snapshot(out)
    assert cli.run(train.main, [*common, "--fold", "0"]) == 2
    assert f"--out {out}: fold0 " in one_line_error(capsys)
    assert snapshot(out) == before
    # Another K or seed makes other folds: they do not belong in this run.
    assert cli.run(train.main, [*common, "--fold", "1", "--seed", "5"]) == 2
    assert f"--out {out}: " in one_line_error(capsys)
    assert snapshot(out) == before


def test_default_folders_of_runs_started_in_the_same_second_differ(tiny_synthetic, one_epoch, tmp_path,
                                                                   monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(run_folder, "time_stamp", lambda: "20260102-030405")  # every run starts in one second
    argv = [*TINY_LENET, "--data", str(tiny_synthetic), "--epochs", "1", "--cache-dir", str(one_epoch[1])]
    folders = []
    for _ in range(3):
        assert cli.run(train.main, argv) == 0
        line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("output folder: "))
        folders.append(line.removeprefix("output folder: "))
    base = str(tmp_path / "runs" / "parallel_lenet-20260102-030405")
    assert folders == [base, base + "-2", base + "-3"]


def test_every_file_of_a_run_and_of_an_evaluation_is_written_atomically(tiny_synthetic, one_epoch, tmp_path,
                                                                        monkeypatch):
    """Each file in the output folders arrived by a rename (minidl.atomic), never by writing in place."""
    renamed, replace = set(), os.replace

    def recording_replace(src, dst, *args, **kwargs):
        renamed.add(os.path.abspath(dst))
        return replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", recording_replace)
    run, ev = tmp_path / "run", tmp_path / "ev"
    assert cli.run(train.main, [*TINY_LENET, "--data", str(tiny_synthetic), "--epochs", "1", "--out", str(run),
                                "--cache-dir", str(one_epoch[1])]) == 0
    assert cli.run(evaluate.main, ["--checkpoint", str(run / "best.npz"), "--data", str(tiny_synthetic),
                                   "--out", str(ev), "--cam", "1", "--cache-dir", str(one_epoch[1])]) == 0
    written = {os.path.abspath(os.path.join(d, name)) for folder in (run, ev)
               for d, _, names in os.walk(folder) for name in names}
    assert "report.txt" in {os.path.basename(p) for p in written if p.startswith(str(ev))}
    assert written - renamed == set()


def test_evaluate_refuses_an_out_folder_that_holds_files(tiny_synthetic, one_epoch, tmp_path, capsys):
    ev = tmp_path / "ev"
    ev.mkdir()
    (ev / "report.txt").write_text("an earlier evaluation\n")
    argv = ["--checkpoint", str(one_epoch[0] / "best.npz"), "--data", str(tiny_synthetic), "--out", str(ev),
            "--cam", "0", "--cache-dir", str(one_epoch[1])]
    assert cli.run(evaluate.main, argv) == 2
    assert f"--out {ev}: " in one_line_error(capsys)
    assert (ev / "report.txt").read_text() == "an earlier evaluation\n"
    assert cli.run(evaluate.main, [*argv, "--overwrite"]) == 0
    assert "macro F1" in (ev / "report.txt").read_text()


def _dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temp_clean_up_spares_files_live_processes_are_writing(tmp_path):
    target = tmp_path / "last.npz"
    with atomic_path(target) as mine:  # this process, alive, is writing it
        with open(mine, "wb") as f:
            f.write(b"half a checkpoint")
        assert remove_stale_temps(target) == []
        assert os.path.exists(mine)
    assert target.read_bytes() == b"half a checkpoint"
    # The temporary file of a writer that died (kill -9) goes; one of another host is not ours to judge.
    host = os.path.basename(mine).split(".")[3].split("-")[0]
    dead = tmp_path / f".last.npz.{host}-{_dead_pid()}.abc123.tmp.npz"
    elsewhere = tmp_path / f".last.npz.00000000-{os.getpid()}.abc124.tmp.npz"
    for path in (dead, elsewhere):
        path.write_bytes(b"partial")
    assert remove_stale_temps(target) == [str(dead)]
    assert elsewhere.exists()


def test_stale_temp_clean_up_keeps_fresh_unlabelled_temporaries(tmp_path):
    """Temporaries without a writer label (older versions) go only once nothing has touched them for a day."""
    target = tmp_path / "best.npz"
    fresh, old = tmp_path / ".best.npz.k2j3h4.tmp.npz", tmp_path / ".best.npz.a8b9c0.tmp.npz"
    for path in (fresh, old):
        path.write_bytes(b"partial")
    day_ago = os.path.getmtime(old) - 25 * 3600
    os.utime(old, (day_ago, day_ago))
    assert remove_stale_temps(target) == [str(old)]
    assert fresh.exists()

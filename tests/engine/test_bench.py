"""``python -m minidl.bench``: the layer table, NumPy as users run it (``minidl.bench.blas``),
and ``--steps`` pointing to hpa's benchmark."""
import os
import pathlib
import subprocess
import sys

from minidl.bench import blas, layers

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROBE = "import os; print(os.environ.get('OPENBLAS_CORETYPE'), os.environ.get('OPENBLAS_L2_SIZE'))"


def _python(args, **env):
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
                   **env}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, env=environment,
                          timeout=120)


def test_a_tiny_layer_run_prints_the_blas_kernel_and_its_row(capsys):
    assert layers.main(["--only", "linear", "--repeat", "1", "--warmup", "0", "--no-torch"]) == 0
    out = capsys.readouterr().out
    assert "BLAS: " in out and "linear 32768->128 b32" in out


def test_steps_name_the_new_command():
    done = _python(["-m", "minidl.bench", "--steps"])
    assert done.returncode == 2
    assert done.stderr.strip() == layers.STEPS_MOVED and "hpa.bench.steps" in done.stderr


def test_the_command_reruns_itself_without_the_openblas_overrides():
    code = "import sys; from minidl.bench import blas; " \
           "sys.exit(blas.main_as_users_run('minidl.bench', lambda argv: print('in-process')))"
    done = _python(["-c", code, "--only", "linear", "--repeat", "1", "--warmup", "0", "--no-torch"],
                   OPENBLAS_CORETYPE="Haswell", OPENBLAS_L2_SIZE="1048576")
    assert done.returncode == 0, done.stderr
    assert "in-process" not in done.stdout  # a fresh `python -m minidl.bench` ran instead
    assert "as users run (OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset)" in done.stdout


def test_workers_start_without_the_overrides_and_the_caller_keeps_them(monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "1048576")
    with blas.without_overrides():
        child = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True).stdout
    assert child.split() == ["None", "None"]
    assert os.environ["OPENBLAS_CORETYPE"] == "Haswell" and os.environ["OPENBLAS_L2_SIZE"] == "1048576"
    assert "OPENBLAS_CORETYPE" not in blas.users_environment()
    assert "NOT as users run: OPENBLAS_CORETYPE=Haswell" in blas.header_line()

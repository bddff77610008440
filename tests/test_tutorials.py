"""Execute every tutorial notebook headless, as a reader would run it top to bottom.

Each notebook asserts its own key facts in code cells (gradient-check errors
below 1e-6, a trained model above the constant predictor, two implementations
equal, ...), so a notebook that runs without an error is a passing test. Cheap
structural tests keep the course in shape: numbered 01, 02, ... without gaps,
stored without outputs, each stating what the reader will be able to do and
ending with exercises whose solutions sit in hidden cells, and none asserting
wall-clock time (which flakes on a busy machine).

Run only these:  python -m pytest -q tests/test_tutorials.py
Skip them:       python -m pytest -q -m "not slow"
"""
import os
import pathlib
import re
import time

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
from nbclient.exceptions import CellExecutionError  # noqa: E402  (after the skips above)

ROOT = pathlib.Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("*.ipynb"))
CELL_TIMEOUT = 600  # seconds for any one cell: the slowest trains networks, several times slower on a shared machine
# An assert that mentions a timing variable: what the notebooks must not do.
TIME_ASSERT = re.compile(r"^\s*assert\b.*(elapsed|seconds|timing|perf_counter|wall_clock)", re.MULTILINE)


def _ids(paths):
    return [p.stem for p in paths]


def test_tutorials_exist():
    assert NOTEBOOKS, f"no notebooks found in {TUTORIALS}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, cell in enumerate(nb.cells)
             if "execution" in cell.get("metadata", {})
             or cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not dirty, (f"{path.name}: cells {dirty} hold outputs; clear them before committing "
                       f"(tutorials/README.md shows how)")


def test_notebooks_are_numbered_without_gaps():
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert numbers == list(range(1, len(NOTEBOOKS) + 1)), [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_follows_the_course_rules(path):
    nb = nbformat.read(path, as_version=4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "By the end of this notebook you will be able to" in nb.cells[0].source, f"{path.name}: no learning goal"
    assert "## Exercises" in markdown, f"{path.name}: no exercises"
    hidden = [c for c in code if c.metadata.get("jupyter", {}).get("source_hidden")]
    assert hidden, f"{path.name}: no hidden solution cells"
    offending = [m.group(0).strip() for c in code for m in TIME_ASSERT.finditer(c.source)]
    assert not offending, f"{path.name} asserts wall-clock time: {offending}"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs(path, tmp_path, monkeypatch):
    # The kernel is a separate process started in tutorials/: make the checkout
    # importable there even when the project is not pip-installed, keep any
    # files a notebook writes (hpa's image cache) out of the user's home.
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", pythonpath)
    monkeypatch.setenv("HPA_CACHE", str(tmp_path / "hpa-cache"))
    # The kernel is a reader's Python on the host, also in the fake-device pass
    # (the fake device lives in this process only): 07 checks that md.use("gpu") fails there.
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(TUTORIALS)}})
    start = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as error:
        pytest.fail(f"{path.name} failed:\n{error}", pytrace=False)
    print(f"{path.name} ran in {time.perf_counter() - start:.1f} s")

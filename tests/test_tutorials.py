"""Execute every tutorial notebook headless, as a reader would run it top to bottom.

Each notebook asserts its own key facts in code cells (gradient-check errors
below 1e-6, a trained model above the constant predictor, two implementations
equal, ...), so a notebook that runs without an error is a passing test. That
run compares nothing with the outputs stored in the file: a cheap test checks
instead that they were produced from the current code cells (the hash that
``tutorials/execute.py`` stores), so the suite executes each notebook once.

Other cheap tests keep the course in shape: numbered 01, 02, ... without gaps,
each stating what the reader will be able to do, showing real source with
``inspect.getsource`` and ending with exercises whose solutions sit in hidden
cells, one of them hands-on (a stub raising NotImplementedError that the
learner fills, with a hidden solution below it), none asserting wall-clock time (which
flakes on a busy machine), and no stale text: every backticked dotted name of
``minidl`` or ``hpa`` in the prose resolves against the code, every backticked
path and ``python -m`` module exists, and nothing points at issue numbers or
says a part is "not in this checkout".

Run only these:  python -m pytest -q tests/test_tutorials.py
Skip them:       python -m pytest -q -m "not slow"
"""
import importlib
import importlib.util
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
_spec = importlib.util.spec_from_file_location("tutorials_execute", TUTORIALS / "execute.py")
execute = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(execute)
CELL_TIMEOUT = 600  # seconds for any one cell: the slowest trains networks, several times slower on a shared machine
# An assert that mentions a timing variable: what the notebooks must not do.
TIME_ASSERT = re.compile(r"^\s*assert\b.*(elapsed|seconds|timing|perf_counter|wall_clock)", re.MULTILINE)
# Inline code in markdown, the dotted names of the project in it (`md.` is how the notebooks import minidl),
# project paths in it, and `python -m` modules anywhere in the prose.
INLINE_CODE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
DOTTED = re.compile(r"(?<![\w./-])((?:minidl|hpa|md)(?:\.[A-Za-z_]\w*)+)(?![\w*])")  # `hpa.train_*`: a pattern
PROJECT_PATH = re.compile(r"(?<![\w./-])((?:minidl|hpa|tests|tutorials)/[\w./-]*\w)")
MODULE_RUN = re.compile(r"python -m ((?:minidl|hpa)(?:\.\w+)*)")
# Pointers into the project's issue tracker, and the "not written yet" excuses of an earlier edition.
STALE_TEXT = re.compile(r"\bissues?\s+#?\d+|(?<![\w&#])#\d+\b|not in this checkout", re.IGNORECASE)


def _ids(paths):
    return [p.stem for p in paths]


def test_tutorials_exist():
    assert NOTEBOOKS, f"no notebooks found in {TUTORIALS}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_stored_outputs_come_from_the_current_code(path):
    """Cheap: the stored outputs were produced by tutorials/execute.py from the code cells there now."""
    nb = nbformat.read(path, as_version=4)
    stored = execute.stored_state(nb)
    assert stored.get("code_hash") == execute.code_hash(nb), (
        f"{path.name}: its stored outputs are not those of its current code cells; "
        f"run: python tutorials/execute.py {path.name[:2]}")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") is not None for c in code), f"{path.name}: cells that never ran"
    errors = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
              for out in c.get("outputs", []) if out.get("output_type") == "error"]
    assert not errors, f"{path.name}: cells {errors} stored an error"
    timestamps = [i for i, c in enumerate(nb.cells) if "execution" in c.get("metadata", {})]
    assert not timestamps, f"{path.name}: cells {timestamps} keep run timestamps (execute.py drops them)"


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
    assert any("getsource(" in c.source for c in code), \
        f"{path.name}: shows no real source with inspect.getsource (tutorials/README.md promises it)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_has_a_hands_on_exercise(path):
    """A stub the learner fills (it raises NotImplementedError until then), its check run, and a hidden solution after it."""
    nb = nbformat.read(path, as_version=4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "**Hands-on.**" in markdown, f"{path.name}: no exercise marked **Hands-on.**"
    hidden = [i for i, c in enumerate(nb.cells) if c.metadata.get("jupyter", {}).get("source_hidden")]
    stubs = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and i not in hidden
             and "raise NotImplementedError" in c.source]
    assert stubs, f"{path.name}: no visible code cell with a stub that raises NotImplementedError"
    assert any(h > stubs[-1] for h in hidden), f"{path.name}: no hidden solution below the hands-on stub"


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


def resolve(dotted):
    """Import the longest module prefix of ``dotted`` and getattr the rest; raise if anything is missing."""
    parts = dotted.split(".")
    if parts[0] == "md":
        parts[0] = "minidl"
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError as error:
            if error.name is None or not ".".join(parts[:cut]).startswith(error.name):
                raise  # the module exists but imports something missing
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ModuleNotFoundError(dotted)


def stale_names(markdown):
    """The backticked project names, paths and ``python -m`` modules of ``markdown`` that do not exist."""
    bad = []
    for span in INLINE_CODE.findall(markdown):
        for name in DOTTED.findall(span):
            try:
                resolve(name)
            except (ImportError, AttributeError) as error:
                bad.append(f"`{name}` ({type(error).__name__}: {error})")
        for path in PROJECT_PATH.findall(span):
            if not (ROOT / path).exists():
                bad.append(f"`{path}` (no such file)")
    for module in MODULE_RUN.findall(markdown):
        if importlib.util.find_spec(module) is None:
            bad.append(f"python -m {module} (no such module)")
    return bad


def test_the_stale_name_check_can_fail():
    assert stale_names("see `minidl.ops.conv2d.forward`, `hpa.evaluation.gradcam`, `md.Conv2d` and "
                       "`minidl/ops/sgd.py`; run `python -m hpa.train --help` or any `hpa.train_*`") == []
    bad = stale_names("`hpa.training.TrainConfig`, `minidl.ops.no_such_op`, `md.Nothing`, `hpa/nothing.py`, "
                      "python -m hpa.no_such_command")
    assert len(bad) == 5, bad
    for text in ("is being added in issue 12", "see Issue #8", "fixed in #12", "not in this checkout yet"):
        assert STALE_TEXT.search(text), text
    for text in ("## 1. Section", "a 12-issue course", "shape (N, 28)", "&#12;"):
        assert not STALE_TEXT.search(text), text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_names_only_what_exists(path):
    nb = nbformat.read(path, as_version=4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    bad = stale_names(markdown)
    assert not bad, f"{path.name}: the prose names what the code does not have: {bad}"
    stale = [(i, m.group(0)) for i, c in enumerate(nb.cells) for m in STALE_TEXT.finditer(c.source)]
    assert not stale, f"{path.name}: cells point at issues or missing parts: {stale}"


def test_the_course_readme_lists_every_notebook_and_names_only_what_exists():
    readme = (TUTORIALS / "README.md").read_text(encoding="utf-8")
    missing = [p.name for p in NOTEBOOKS if f"]({p.name})" not in readme]
    assert not missing, f"tutorials/README.md does not list {missing}"
    assert not stale_names(readme), stale_names(readme)
    assert not STALE_TEXT.search(readme), STALE_TEXT.search(readme).group(0)

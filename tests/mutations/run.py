"""Plant known bugs one at a time and check that the test suite catches each, with and without PyTorch.

Run by hand from the repository root (not part of CI, and not collected by pytest)::

    python tests/mutations/run.py            # every mutation
    python tests/mutations/run.py --list     # their names
    python tests/mutations/run.py relu_dy_in_place adamw_decay_after_step

The working tree (tracked and untracked, not ignored, files) is copied once
into a temporary folder. For each mutation the script edits the source text
there (each edit must match exactly once, so a mutation whose code has moved
is reported as STALE instead of silently testing nothing), runs the tests that
claim to catch it twice, once as is and once with ``import torch`` failing (a
stand-in ``torch`` module that raises ImportError, first on PYTHONPATH, so
every ``pytest.importorskip("torch")`` skips), and restores the file. A
mutation is CAUGHT when at least one test fails in both runs. A first run
without any mutation must show no failure, or the table proves nothing.
"""
import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from mutations import MUTATIONS  # noqa: E402  (the catalogue, next to this script)


@dataclass
class Outcome:
    failed: int
    first: str  # the first failing test, for the table
    seconds: float


def copy_working_tree(destination):
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                            cwd=REPO, check=True, capture_output=True, text=True).stdout
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def environment(root, with_torch):
    env = dict(os.environ)
    paths = [str(root)] if with_torch else [str(root / "_no_torch"), str(root)]
    env["PYTHONPATH"] = os.pathsep.join(paths + [p for p in [env.get("PYTHONPATH")] if p])
    env.pop("MINIDL_DEVICE", None)
    return env


def check_environments(root):
    """The copy, not the installed checkout, must be what the tests import; torch must hide."""
    probe = "import minidl, hpa; print(minidl.__file__); print(hpa.__file__)\n" \
            "try:\n import torch; print('torch', torch.__version__)\nexcept ImportError: print('no torch')"
    for with_torch in (True, False):
        out = subprocess.run([sys.executable, "-c", probe], cwd=root, env=environment(root, with_torch),
                             capture_output=True, text=True, check=True).stdout.split("\n")
        if not all(line.startswith(str(root)) for line in out[:2]):
            sys.exit(f"error: the tests would import {out[:2]}, not the copy in {root}")
        if (out[2] == "no torch") == with_torch:
            sys.exit(f"error: torch {'missing' if with_torch else 'not hidden'} ({out[2]})")


def run_tests(root, tests, with_torch):
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "--tb=no", "-rfE", "-p", "no:cacheprovider",
                           *tests], cwd=root, env=environment(root, with_torch),
                          capture_output=True, text=True)
    failing = [line.split()[1] for line in done.stdout.splitlines() if line.startswith(("FAILED ", "ERROR "))]
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-300:]
    if done.returncode not in (0, 1):  # 2+: collection error, usage error, internal error
        return Outcome(-1, f"pytest exit {done.returncode}: {summary}", time.monotonic() - start)
    counted = sum(int(n) for n in re.findall(r"(\d+) (?:failed|errors?)\b", summary))
    return Outcome(max(counted, len(failing)), failing[0] if failing else "", time.monotonic() - start)


def apply(root, mutation):
    """Edit the copy; returns the original texts to restore, or None if an edit no longer matches."""
    originals = {}
    for path, old, new in mutation.edits:
        file = root / path
        text = originals.get(path) or file.read_text()
        originals.setdefault(path, text)
        current = file.read_text()
        if current.count(old) != 1:
            restore(root, originals)
            return None
        file.write_text(current.replace(old, new))
    return originals


def restore(root, originals):
    for path, text in originals.items():
        (root / path).write_text(text)


def short(test_id):
    return test_id.split("/")[-1][:70]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="mutations to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    args = parser.parse_args()
    if args.list:
        for m in MUTATIONS:
            print(f"{m.name:<32} {m.bug}")
        return 0
    unknown = set(args.names) - {m.name for m in MUTATIONS}
    if unknown:
        sys.exit(f"error: unknown mutation(s) {', '.join(sorted(unknown))}; see --list")
    chosen = [m for m in MUTATIONS if not args.names or m.name in args.names]

    rows, all_caught, baselines = [], True, {}
    with tempfile.TemporaryDirectory(prefix="minidl-mutations-") as tmp:
        root = pathlib.Path(tmp)
        copy_working_tree(root)
        (root / "_no_torch").mkdir()
        (root / "_no_torch" / "torch.py").write_text(  # ModuleNotFoundError: what importorskip expects
            'raise ModuleNotFoundError("torch is hidden by tests/mutations/run.py", name="torch")\n')
        check_environments(root)
        for m in chosen:
            if m.covered_by:
                rows.append((m.name, "-", "-", f"covered by {m.covered_by}", ""))
                continue
            if tuple(m.tests) not in baselines:
                baselines[tuple(m.tests)] = [run_tests(root, m.tests, t) for t in (True, False)]
            base = baselines[tuple(m.tests)]
            if any(o.failed for o in base):
                rows.append((m.name, base[0].failed, base[1].failed, "BASELINE FAILS", base[0].first or base[1].first))
                all_caught = False
                continue
            originals = apply(root, m)
            if originals is None:
                rows.append((m.name, "-", "-", "STALE (edit no longer matches)", ""))
                all_caught = False
                continue
            try:
                outcomes = [run_tests(root, m.tests, t) for t in (True, False)]
            finally:
                restore(root, originals)
            caught = all(o.failed > 0 for o in outcomes)
            all_caught &= caught
            rows.append((m.name, outcomes[0].failed, outcomes[1].failed, "CAUGHT" if caught else "MISSED",
                         short(outcomes[1].first or outcomes[0].first)))
            print(f"{m.name}: {rows[-1][3]} ({outcomes[0].seconds + outcomes[1].seconds:.0f} s)", flush=True)

    print()
    print(f"| {'mutation':<32} | failed with torch | failed without torch | verdict | first failing test without torch |")
    print(f"| {'-' * 32} | --- | --- | --- | --- |")
    for name, with_t, without_t, verdict, first in rows:
        print(f"| {name:<32} | {with_t} | {without_t} | {verdict} | {first} |")
    print()
    for m in chosen:
        print(f"{m.name}: {m.bug}")
    return 0 if all_caught else 1


if __name__ == "__main__":
    sys.exit(main())

"""The README's "Training on the real data" section stays true.

Every ``python -m hpa.X`` command in it: the module answers ``--help``,
each ``--option`` the command uses is one that module offers, and each
recipe it names exists. The cache-size table follows the cache format and
the download's size estimate is the real HPAv18 sample's size.
"""
import os
import re
import subprocess
import sys

import pytest
from real_files import EXTERNAL_DIR

from hpa.data.reading.labels import CHANNELS
from hpa.download.plan import BYTES_PER_SAMPLE
from hpa.training.recipes import all_recipes

CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TITLE = "## Training on the real data"
COMMAND = re.compile(r"python -m (hpa(?:\.\w+)+)([^\n`]*)")


def section():
    with open(os.path.join(CHECKOUT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    assert TITLE in text
    body = text.split(TITLE, 1)[1]
    return body.split("\n## ", 1)[0]


def commands():
    """(module, options used) of every command in the section; a shell comment ends a command."""
    found = {}
    for module, rest in COMMAND.findall(section()):
        rest = rest.split("#", 1)[0]
        found.setdefault(module, set()).update(re.findall(r"(?<![\w-])--[a-z][\w-]*", rest))
    return found


def test_the_section_names_every_step():
    found = commands()
    for module in ("hpa.download_hpav18", "hpa.train", "hpa.train_parallel_lenet", "hpa.predict",
                   "hpa.check_submission"):
        assert module in found, module
    assert {"--recipe", "--folds", "--data"} <= found["hpa.train"] and "--tta" in found["hpa.predict"]
    assert "kaggle competitions download -c human-protein-atlas-image-classification" in section()


@pytest.mark.parametrize("module", sorted(commands()))
def test_each_command_answers_help_and_has_its_options(module):
    result = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True,
                            cwd=CHECKOUT, env=dict(os.environ, PYTHONPATH=CHECKOUT), timeout=120)
    assert result.returncode == 0, result.stderr
    for option in sorted(commands()[module]):
        assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", result.stdout), f"{module} has no {option}"


def test_every_recipe_named_exists():
    text = section()
    named = set(re.findall(r"--recipe ([\w-]+)", text))
    for loop in re.findall(r"for r in ([^;]+);", text):
        named.update(loop.split())
    named.discard("list")
    assert named and named <= set(all_recipes()), named - set(all_recipes())


def test_the_cache_table_follows_the_cache_format():
    counts = {"Kaggle train": 31_072, "Kaggle test": 11_702, "HPAv18": 71_437}
    counts["Kaggle train + HPAv18"] = counts["Kaggle train"] + counts["HPAv18"]
    lines = [line for line in section().splitlines() if line.startswith("| S |") or re.match(r"\| \d+ \|", line)]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert len(lines) == 4
    for line in lines[1:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        size, per_sample = int(cells[0]), int(cells[1].replace(",", ""))
        assert per_sample == len(CHANNELS) * size * size  # images_<S>.npy: uint8 (N, 4, S, S)
        for name, cell in zip(header[2:], cells[2:]):
            assert cell == f"{counts[name] * per_sample / 1e9:.1f} GB", (size, name)


def test_the_download_estimate_is_the_real_samples_size():
    files = [EXTERNAL_DIR / f"800_A6_1_{c}.jpg" for c in CHANNELS]
    if not all(f.is_file() for f in files):
        pytest.skip(f"the real HPAv18 sample is absent from {EXTERNAL_DIR}")
    assert BYTES_PER_SAMPLE == sum(f.stat().st_size for f in files)
    assert f"x 71,437 = {71_437 * BYTES_PER_SAMPLE / 1e9:.0f} GB" in section()

"""The synthetic data set: label statistics, sampler, images and files."""
import json
import os

import numpy as np
import pytest
from PIL import Image
from real_files import TRAIN_CSV

from hpa.data.reading.labels import CHANNELS, NUM_CLASSES, parse_target
from hpa.runtime.cli import run
from hpa.runtime.errors import HpaError
from hpa.synthesis import label_stats
from hpa.synthesis.generate import MARKER, generate, png_bytes, render_sample
from hpa.synthetic import main

REAL_CSV = TRAIN_CSV
RED, GREEN, BLUE, YELLOW = (CHANNELS.index(c) for c in ("red", "green", "blue", "yellow"))


# ------------------------------------------------------------ label stats
@pytest.mark.skipif(not REAL_CSV.is_file(), reason="real competition train.csv not available")
def test_embedded_stats_equal_the_real_csv():
    real = label_stats.stats_from_csv(REAL_CSV)
    embedded = label_stats.embedded_stats()
    assert real.num_samples == embedded.num_samples == 31072
    np.testing.assert_array_equal(real.cooccurrence, embedded.cooccurrence)
    np.testing.assert_array_equal(real.labels_per_sample, embedded.labels_per_sample)
    np.testing.assert_array_equal(real.size_given_class, embedded.size_given_class)


def test_embedded_stats_are_consistent():
    s = label_stats.embedded_stats()
    assert (s.cooccurrence == s.cooccurrence.T).all()
    assert s.labels_per_sample.sum() == s.num_samples
    # Each class's samples, split by set size, add up to its count.
    np.testing.assert_array_equal(s.size_given_class.sum(axis=1), np.diag(s.cooccurrence))
    assert label_stats.CLASS_COUNTS[27] == 11


def test_stats_from_matrix():
    y = np.zeros((3, NUM_CLASSES), dtype=np.uint8)
    y[0, [0, 25]] = 1
    y[1, 0] = 1
    y[2, [0, 2, 25]] = 1
    s = label_stats.stats_from_matrix(y)
    assert s.num_samples == 3
    assert s.cooccurrence[0, 0] == 3 and s.cooccurrence[0, 25] == 2 and s.cooccurrence[2, 25] == 1
    assert s.labels_per_sample.tolist() == [1, 1, 1, 0, 0]
    assert s.size_given_class[0].tolist() == [1, 1, 1, 0, 0]


def test_stats_from_csv_reports_bad_rows(tmp_path):
    bad = tmp_path / "labels.csv"
    bad.write_text("Id,Target\na,0 3\nb,31\n")
    with pytest.raises(HpaError, match="row 3"):
        label_stats.stats_from_csv(bad)


def test_sampler_follows_real_frequencies():
    y = label_stats.sample_label_sets(20000, np.random.default_rng(0), min_fraction=0)
    real = np.array(label_stats.CLASS_COUNTS) / label_stats.NUM_SAMPLES
    drawn = y.mean(axis=0)
    # Within 15 % for the 19 classes with 500+ real samples (rarer ones see
    # too few draws to check tightly; the biggest bias, about +10 %, is for
    # classes that come in large sets, such as the mitotic ones).
    common = np.array(label_stats.CLASS_COUNTS) >= 500
    np.testing.assert_allclose(drawn[common], real[common], rtol=0.15)
    sizes = np.bincount(y.sum(axis=1), minlength=6)[1:] / len(y)
    real_sizes = np.array(label_stats.LABELS_PER_SAMPLE) / label_stats.NUM_SAMPLES
    np.testing.assert_allclose(sizes, real_sizes, atol=0.02)
    # Pairs never seen together in the real data never come out together.
    never = np.array(label_stats.COOCCURRENCE) == 0
    assert ((y.T.astype(int) @ y)[never] == 0).all()


def test_sampler_floor_puts_every_class_in_a_small_set():
    y = label_stats.sample_label_sets(2000, np.random.default_rng(0))
    assert y.sum(axis=0).min() >= 10  # 0.5 % of 2,000
    assert y.sum(axis=1).min() >= 1
    tiny = label_stats.sample_label_sets(40, np.random.default_rng(0))
    assert (tiny.sum(axis=0) >= 1).all()


# ----------------------------------------------------------------- images
def _bright_green_in_nuclei(classes, seed):
    """Fraction of the brightest 1 % green pixels inside the nuclei, with
    nuclei found the way an analysis of real images would: bright blue."""
    image = render_sample(classes, 128, np.random.default_rng(seed)).astype(np.float32)
    blue, green = image[BLUE], image[GREEN]
    nuclei = blue > 0.35 * np.percentile(blue, 99.5)
    bright = green >= np.percentile(green, 99)
    return nuclei[bright].mean()


@pytest.mark.parametrize("seed", [0, 1])
def test_green_lies_where_the_class_says(seed):
    for nuclear in (0, 2, 4):  # nucleoplasm, nucleoli, nuclear speckles
        assert _bright_green_in_nuclei([nuclear], seed) > 0.8, nuclear
    for cytoplasmic in (6, 23, 25):  # ER, mitochondria, cytosol
        assert _bright_green_in_nuclei([cytoplasmic], seed) < 0.1, cytoplasmic


def _correlation(a, b):
    return np.corrcoef(a.ravel().astype(np.float64), b.ravel().astype(np.float64))[0, 1]


def test_er_and_microtubule_proteins_follow_their_reference_channels():
    er = render_sample([6], 128, np.random.default_rng(3))
    mt = render_sample([14], 128, np.random.default_rng(3))
    assert _correlation(er[GREEN], er[YELLOW]) > _correlation(er[GREEN], er[RED])
    assert _correlation(mt[GREEN], mt[RED]) > _correlation(mt[GREEN], mt[YELLOW])


@pytest.mark.parametrize("size", [64, 128, 512])
def test_render_sizes(size):
    image = render_sample([0, 25], size, np.random.default_rng(0))
    assert image.shape == (4, size, size) and image.dtype == np.uint8
    # Every channel uses a good part of the 8-bit range.
    assert (image.reshape(4, -1).max(axis=1) > 100).all()


def test_render_every_class_is_deterministic():
    for c in range(NUM_CLASSES):
        a = render_sample([c], 64, np.random.default_rng([5, c]))
        b = render_sample([c], 64, np.random.default_rng([5, c]))
        np.testing.assert_array_equal(a, b)
        assert a[GREEN].max() > 50, c


def test_png_bytes_round_trip(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (37, 53), dtype=np.uint8)
    path = tmp_path / "x.png"
    path.write_bytes(png_bytes(image))
    with Image.open(path) as im:
        assert im.mode == "L" and im.size == (53, 37)
        np.testing.assert_array_equal(np.asarray(im), image)


# ------------------------------------------------------------------ files
N, SIZE = 40, 64


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("synthetic") / "set", n=N, size=SIZE, seed=3,
                    workers=2, progress=False)


def _csv_rows(folder):
    lines = (folder / "train.csv").read_text().splitlines()
    assert lines[0] == "Id,Target"
    return [line.split(",") for line in lines[1:]]


def test_kaggle_layout(small_set):
    rows = _csv_rows(small_set)
    assert len(rows) == N
    ids = [sample_id for sample_id, _ in rows]
    assert len(set(ids)) == N
    for sample_id, target in rows:
        assert 1 <= len(parse_target(target)) <= label_stats.MAX_LABELS
    visible = sorted(p.name for p in (small_set / "train").iterdir())
    assert visible == sorted(f"{i}_{c}.png" for i in ids for c in CHANNELS)
    for name in visible[:8]:
        with Image.open(small_set / "train" / name) as im:
            assert im.format == "PNG" and im.mode == "L" and im.size == (SIZE, SIZE)
    # Every class appears even in a set this small.
    classes = {c for _, target in rows for c in parse_target(target)}
    assert classes == set(range(NUM_CLASSES))


def test_same_seed_same_files_whatever_the_workers(small_set, tmp_path):
    again = generate(tmp_path / "again", n=N, size=SIZE, seed=3, workers=1, progress=False)
    assert (again / "train.csv").read_bytes() == (small_set / "train.csv").read_bytes()
    for name in sorted(os.listdir(small_set / "train"))[::7]:
        assert (again / "train" / name).read_bytes() == (small_set / "train" / name).read_bytes()


def test_other_seed_other_set(small_set, tmp_path):
    other = generate(tmp_path / "other", n=4, size=SIZE, seed=4, workers=1, progress=False)
    assert _csv_rows(other)[0][0] not in {i for i, _ in _csv_rows(small_set)}


def test_interrupted_generation_is_finished(tmp_path):
    folder = generate(tmp_path / "set", n=6, size=SIZE, seed=0, workers=1, progress=False)
    csv = (folder / "train.csv").read_bytes()
    names = [p.name for p in (folder / "train").iterdir()]
    one = sorted((folder / "train").iterdir())[5]
    content = one.read_bytes()
    # As if killed before the end: no CSV, one image missing, a temp file left.
    (folder / "train.csv").unlink()
    one.unlink()
    leftovers = [folder / "train" / ".leftover.png.tmp", folder / "train" / f".{one.name}.k2x9q1.tmp.png"]
    for leftover in leftovers:
        leftover.write_bytes(b"half")
    generate(folder, n=6, size=SIZE, seed=0, workers=1, progress=False)
    assert (folder / "train.csv").read_bytes() == csv
    assert one.read_bytes() == content
    assert not any(leftover.exists() for leftover in leftovers)
    assert sorted(p.name for p in (folder / "train").iterdir()) == sorted(names)


def test_finished_set_is_reused_and_other_parameters_redraw(tmp_path):
    folder = generate(tmp_path / "set", n=5, size=SIZE, seed=0, workers=1, progress=False)
    stamp = (folder / "train.csv").stat().st_mtime_ns
    generate(folder, n=5, size=SIZE, seed=0, workers=1, progress=False)
    assert (folder / "train.csv").stat().st_mtime_ns == stamp
    generate(folder, n=3, size=SIZE, seed=1, workers=1, progress=False)
    assert len(_csv_rows(folder)) == 3
    assert len(os.listdir(folder / "train")) == 3 * len(CHANNELS)
    assert json.loads((folder / MARKER).read_text())["seed"] == 1


def test_refuses_to_overwrite_foreign_data(tmp_path):
    (tmp_path / "train.csv").write_text("Id,Target\nx,0\n")
    with pytest.raises(HpaError, match="not made by hpa.synthetic"):
        generate(tmp_path, n=2, size=SIZE, progress=False)
    assert (tmp_path / "train.csv").read_text() == "Id,Target\nx,0\n"


def test_command(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "cli"), "--n", "2", "--size", "48", "--quiet"]) == 0
    assert len(_csv_rows(tmp_path / "cli")) == 2
    assert run(main, ["--out", str(tmp_path / "bad"), "--n", "2", "--size", "8"]) == 2
    assert "size" in capsys.readouterr().err


def test_the_data_package_reads_folders_without_knowing_the_synthetic_set():
    """The generator (hpa.synthesis) and its command (hpa.synthetic) use hpa.data (labels, cache
    folder), never the other way round: no import loop (tests/test_import_cycles.py checks every module)."""
    import ast
    import pathlib

    import hpa.data
    offenders = []
    for path in sorted(pathlib.Path(hpa.data.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.name} imports {n}" for n in names if n.startswith(("hpa.synthetic", "hpa.synthesis"))]
    assert not offenders, "; ".join(offenders)

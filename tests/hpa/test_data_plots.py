"""Data plots write real PNGs, from arrays and from a Kaggle-layout folder."""
import numpy as np
import pytest
from PIL import Image

from hpa import data_plots as command
from hpa.data.reading.labels import NUM_CLASSES
from hpa.evaluation import data_plots
from hpa.runtime.cli import run
from hpa.runtime.errors import HpaError
from hpa.synthesis.generate import generate


def _labels(n=30, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, NUM_CLASSES)) < 0.08).astype(np.uint8)
    y[np.arange(n), rng.integers(0, NUM_CLASSES, n)] = 1  # at least one label each
    return y


def _is_png(path, min_side=100):
    with Image.open(path) as im:
        return im.format == "PNG" and min(im.size) >= min_side


@pytest.mark.parametrize("plot", [data_plots.plot_label_frequency, data_plots.plot_cooccurrence,
                                  data_plots.plot_labels_per_sample])
def test_label_plots(plot, tmp_path):
    path = tmp_path / "plot.png"
    plot(_labels(), path)
    assert _is_png(path)


@pytest.mark.parametrize("plot", [data_plots.plot_label_frequency, data_plots.plot_cooccurrence,
                                  data_plots.plot_labels_per_sample])
@pytest.mark.parametrize("labels, message", [
    (np.zeros((4, 5)), r"expected shape \(N, 28\)"),
    (np.full((4, 28), 2), "expected only 0/1 values"),
])
def test_label_plots_reject_bad_labels(plot, labels, message, tmp_path):
    with pytest.raises(HpaError, match=f"^labels: {message}"):
        plot(labels, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_montage_rejects_labels_of_other_samples(tmp_path):
    images = np.zeros((3, 4, 8, 8), np.uint8)
    with pytest.raises(HpaError, match=r"^labels: expected shape \(3, 28\), got \(2, 28\)"):
        data_plots.plot_montage(images, tmp_path / "x.png", labels=_labels(2))


def test_montage(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (3, 4, 32, 32), dtype=np.uint8)
    path = tmp_path / "montage.png"
    data_plots.plot_montage(images, path, labels=_labels(3), ids=["a", "b", "c"])
    assert _is_png(path)


def test_composite_shows_yellow_as_red_plus_green():
    image = np.zeros((4, 2, 2), dtype=np.uint8)
    image[3] = 100  # yellow only
    assert data_plots.composite(image)[0, 0].tolist() == [100, 100, 0]
    image[2] = 50  # plus blue
    assert data_plots.composite(image)[0, 0].tolist() == [100, 100, 50]


def test_pick_samples_covers_classes_first():
    y = np.zeros((5, NUM_CLASSES), dtype=np.uint8)
    y[[0, 1, 2], 0] = 1
    y[3, 5] = 1
    y[4, 7] = 1
    assert command.pick_samples(y, 3) == [0, 3, 4]
    assert command.pick_samples(y, 4) == [0, 1, 3, 4]


def test_command_on_a_kaggle_folder(tmp_path, capsys):
    data = generate(tmp_path / "data", n=5, size=48, seed=0, workers=1, progress=False)
    out = tmp_path / "plots"
    assert command.main(["--data", str(data), "--out", str(out), "--montage", "3"]) == 0
    for name in command.PLOT_FILES:
        assert _is_png(out / name), name
    assert str(out / "montage.png") in capsys.readouterr().out


def test_command_on_a_labels_csv(tmp_path):
    data = generate(tmp_path / "data", n=4, size=40, seed=1, workers=1, progress=False)
    out = tmp_path / "plots"
    assert command.main(["--data", str(data / "train.csv"), "--out", str(out), "--montage", "2"]) == 0
    assert all(_is_png(out / name) for name in command.PLOT_FILES)


def test_command_reports_a_missing_folder(tmp_path, capsys):
    code = run(command.main, ["--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")])
    assert code == 2
    assert f"{tmp_path / 'nothing'}: no such file or folder" in capsys.readouterr().err


def test_command_reports_a_missing_channel_file(tmp_path, capsys):
    data = generate(tmp_path / "data", n=3, size=40, seed=0, workers=1, progress=False)
    missing = sorted((data / "train").glob("*_yellow.png"))[1]
    missing.unlink()
    code = run(command.main, ["--data", str(data), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"missing yellow channel file {missing}" in err

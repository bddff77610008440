"""Command-line options of a parallel LeNet small enough to train in seconds (32 px, narrow layers)."""

TINY_LENET_OPTIONS = ["--image-size", "32", "--batch-size", "16", "--model-option", "branch_features=8",
                      "--model-option", "conv_channels=[4,8]", "--model-option", "hidden=[16,16]"]
TINY_LENET = ["--model", "parallel_lenet", "--val-fraction", "0.25", *TINY_LENET_OPTIONS, "--early-stopping", "0"]

COLORS = ("red", "green", "blue", "yellow")


def train_one_epoch(data, root):
    """Train TINY_LENET for one epoch on ``data`` into ``root/run`` (cache in ``root/cache``); returns ``root``."""
    from hpa import train
    from hpa.runtime import cli  # here: this module's option lists serve tests that never import hpa
    argv = [*TINY_LENET, "--data", str(data), "--epochs", "1", "--out", str(root / "run"),
            "--cache-dir", str(root / "cache")]
    assert cli.run(train.main, argv) == 0
    return root


def one_line_error(capsys):
    """The ``error:`` line the command's stderr ends with (after any progress bar); no traceback before it."""
    err = capsys.readouterr().err
    last = err.replace("\r", "\n").strip().splitlines()[-1]
    assert last.startswith("error:") and "Traceback" not in err, err
    return last


def synthetic_folder(tmp_path_factory, n=64, size=32):
    """A fresh synthetic set of ``n`` samples of ``size`` px in the Kaggle layout."""
    from hpa.synthesis.generate import generate
    folder = tmp_path_factory.mktemp("synthetic")
    generate(folder, n=n, size=size, seed=3, progress=False)
    return folder


def imported_weights(tmp_path_factory, arch, image_size, options, source):
    """An hpa.import_weights file of a narrow ``arch`` (random weights stand in for ImageNet's)."""
    import minidl as md
    from hpa.import_weights import save_import
    from hpa.models import build_model
    md.manual_seed(5)
    model = build_model(arch, image_size=image_size, **options)
    path = tmp_path_factory.mktemp("import") / f"{arch}-hpa.npz"
    save_import(path, model, arch, source, "red-green", 0, options)
    return path


def fine_tuning_fixtures(arch, image_size, options, source):
    """The two module fixtures of a fine-tuning test: ``data`` (64 synthetic samples of 32 px)
    and ``imported`` (an hpa.import_weights file of a narrow ``arch``)."""
    import pytest

    @pytest.fixture(scope="module")
    def data(tmp_path_factory):
        return synthetic_folder(tmp_path_factory)

    @pytest.fixture(scope="module")
    def imported(tmp_path_factory):
        return imported_weights(tmp_path_factory, arch, image_size, options, source)

    return data, imported


def kaggle_test_folder(data, folder, count):
    """A Kaggle test layout in ``folder`` (hard links to the first ``count`` training samples of
    ``data``, with a sample_submission.csv); returns their Ids."""
    import os

    import pandas as pd
    (folder / "test").mkdir(parents=True)
    ids = pd.read_csv(data / "train.csv")["Id"][:count]
    for i in ids:
        for color in COLORS:
            os.link(data / "train" / f"{i}_{color}.png", folder / "test" / f"{i}_{color}.png")
    pd.DataFrame({"Id": ids, "Predicted": 0}).to_csv(folder / "sample_submission.csv", index=False)
    return ids

"""Several --data sources: union of labels, per-source statistics, duplicate Ids named."""
import shutil

import numpy as np
import pandas as pd
import pytest

from hpa import train
from hpa.data.batches.loader import BatchLoader
from hpa.data.cache.union import StackedImages, check_distinct_ids
from hpa.models.checkpoint import load_checkpoint
from hpa.runtime import cli
from hpa.runtime.errors import HpaError
from hpa.synthesis.generate import generate


def test_stacked_images_index_like_one_array():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 255, (3, 4, 2, 2), np.uint8), rng.integers(0, 255, (2, 4, 2, 2), np.uint8)
    stacked, whole = StackedImages([a, b]), np.concatenate([a, b])
    assert stacked.shape == whole.shape and len(stacked) == 5
    for key in ([4, 0, 3, 3, 1], slice(1, 4), 2, np.array([], np.int64)):
        np.testing.assert_array_equal(stacked[key], whole[key])


def test_an_id_in_two_sources_is_an_error_naming_both():
    with pytest.raises(HpaError, match="Id b is in two sources: kaggle/train and hpav18"):
        check_distinct_ids([["a", "b"], ["c", "b"]], ["kaggle/train", "hpav18"])
    check_distinct_ids([["a"], ["b"]], ["x", "y"])


def test_each_source_is_normalised_with_its_own_statistics():
    images = StackedImages([np.full((2, 4, 2, 2), 10, np.uint8), np.full((2, 4, 2, 2), 200, np.uint8)])
    groups = np.array([0, 0, 1, 1])
    mean = np.array([[10.0] * 4, [200.0] * 4])
    std = np.array([[5.0] * 4, [50.0] * 4])
    loader = BatchLoader(images, None, [3, 0, 2, 1], batch_size=4, shuffle=False, mean=mean, std=std,
                         groups=groups, workers=0)
    (x, _), = list(loader)
    np.testing.assert_allclose(x, 0.0, atol=1e-6)   # each row exactly at its own source's mean


@pytest.fixture(scope="module")
def two_sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("sources")
    generate(root / "kaggle", n=40, size=32, seed=1, progress=False)
    generate(root / "hpav18", n=40, size=32, seed=2, progress=False)
    # Distinct Ids, as real Kaggle and HPAv18 Ids are.
    table = pd.read_csv(root / "hpav18" / "train.csv")
    for old in table["Id"]:
        for path in (root / "hpav18" / "train").glob(f"{old}_*"):
            path.rename(path.with_name("v18-" + path.name))
    table["Id"] = "v18-" + table["Id"]
    table.to_csv(root / "hpav18" / "train.csv", index=False)
    return root


def test_training_on_two_sources(two_sources, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["--model", "parallel_lenet", "--data", str(two_sources / "kaggle"), "--data", str(two_sources / "hpav18"),
            "--image-size", "32", "--epochs", "1", "--out", str(out), "--cache-dir", str(tmp_path / "c"),
            "--model-option", "conv_channels=[4,8]", "--model-option", "branch_features=8"]
    assert cli.run(train.main, argv) == 0
    printed = capsys.readouterr().out
    assert printed.count("data: ") == 2 and "(40 samples" in printed
    _, meta, _ = load_checkpoint(out / "best.npz")
    stats = meta["source_stats"]
    assert [s["data"] for s in stats] == [str(two_sources / "kaggle"), str(two_sources / "hpav18")]
    assert meta["mean"] == stats[0]["mean"] and stats[0]["mean"] != stats[1]["mean"]
    assert "validation samples: " in (out / "report.txt").read_text()


def test_the_same_id_in_two_folders_is_refused(two_sources, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(two_sources / "kaggle", copy)
    argv = ["--model", "parallel_lenet", "--data", str(two_sources / "kaggle"), "--data", str(copy),
            "--image-size", "32", "--epochs", "1", "--out", str(tmp_path / "run"), "--cache-dir", str(tmp_path / "c")]
    assert cli.run(train.main, argv) == 2
    err = capsys.readouterr().err
    assert "is in two sources" in err and str(copy) in err and str(two_sources / "kaggle") in err

"""The real competition images in ../shared/hpa-real (skipped cleanly where absent).

kaggle-sample/: 16 training samples in the exact Kaggle layout (512 px PNGs);
fullres/: one field of view at 2048 px. Nothing is copied into the repository:
the tests read the files where they are, and a test folder for ``hpa.predict``
is made of links in a temporary folder.
"""
import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from real_files import REAL_DIR

from hpa import evaluate, predict, train
from hpa.data.batches.loader import BatchLoader, channel_stats
from hpa.data.cache.source import cached_images
from hpa.data.reading.labels import CHANNELS, parse_target
from hpa.runtime import cli

KAGGLE = REAL_DIR / "kaggle-sample"
FULLRES = REAL_DIR / "fullres"
needs_kaggle = pytest.mark.skipif(not (KAGGLE / "train.csv").is_file(), reason=f"{KAGGLE} is absent")
needs_fullres = pytest.mark.skipif(not (FULLRES / "labels.csv").is_file(), reason=f"{FULLRES} is absent")


@needs_kaggle
def test_cache_and_loader_on_real_pngs(tmp_path):
    cache = cached_images(KAGGLE, 128, root=tmp_path, workers=1, progress=False)
    table = pd.read_csv(KAGGLE / "train.csv")
    assert len(cache) == len(table) == 16 and cache.images.shape == (16, 4, 128, 128)
    for i, (sample_id, target) in enumerate(zip(table["Id"], table["Target"])):
        row = cache.ids.index(sample_id)
        assert set(np.flatnonzero(cache.labels[row])) == set(parse_target(target))
    # The cached image is the 4x4 block mean of the real 512 px file (exact, rounded).
    first = cache.ids[0]
    green = np.asarray(Image.open(KAGGLE / "train" / f"{first}_green.png"), np.float64)
    expected = green.reshape(128, 4, 128, 4).mean(axis=(1, 3))
    assert np.abs(cache.images[0, CHANNELS.index("green")] - expected).max() <= 0.5 + 1e-9
    mean, std = channel_stats(cache.images)
    loader = BatchLoader(cache.images, cache.labels, batch_size=8, mean=mean, std=std, workers=0)
    x, y = next(iter(loader))
    assert x.shape == (8, 4, 128, 128) and x.dtype == np.float32 and np.isfinite(x).all()
    assert abs(float(x.mean())) < 1.0 and y.shape == (8, 28)


@needs_fullres
def test_full_resolution_read_at_512_agrees_with_an_area_resize(tmp_path):
    cache = cached_images(FULLRES, 512, root=tmp_path, workers=1, progress=False)
    assert cache.images.shape == (1, 4, 512, 512)
    sample_id = cache.ids[0]
    for c, colour in enumerate(CHANNELS):
        with Image.open(FULLRES / f"{sample_id}_{colour}.png") as im:
            assert im.size == (2048, 2048)
            # An independent area resize: PIL's box filter, 2048 -> 512.
            own = np.asarray(im.convert("L").resize((512, 512), Image.Resampling.BOX), np.int16)
        diff = np.abs(cache.images[0, c].astype(np.int16) - own)
        assert diff.max() <= 1, colour     # rounding of the 4x4 block mean
        assert diff.mean() < 0.5, colour


def _test_folder(tmp_path, ids):
    """A Kaggle test layout of links to the real training files."""
    folder = tmp_path / "test-data"
    (folder / "test").mkdir(parents=True)
    for sample_id in ids:
        for colour in CHANNELS:
            source = KAGGLE / "train" / f"{sample_id}_{colour}.png"
            target = folder / "test" / source.name
            try:
                os.link(source, target)
            except OSError:
                os.symlink(source, target)
    pd.DataFrame({"Id": ids, "Predicted": 0}).to_csv(folder / "sample_submission.csv", index=False)
    return folder


@needs_kaggle
@pytest.mark.slow
@pytest.mark.parametrize("model", ["parallel_lenet", "gapnet"])
def test_one_epoch_then_predict_and_grad_cam_on_real_images(model, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["--model", model, "--data", str(KAGGLE), "--image-size", "128", "--epochs", "1",
            "--batch-size", "4", "--val-fraction", "0.3", "--out", str(out), "--cache-dir", str(tmp_path / "c")]
    assert cli.run(train.main, argv) == 0
    assert "validation macro F1" in capsys.readouterr().out
    ids = list(pd.read_csv(KAGGLE / "train.csv")["Id"][:4])
    submission = tmp_path / "submission.csv"
    assert cli.run(predict.main, ["--checkpoint", str(out / "best.npz"), "--data", str(_test_folder(tmp_path, ids)),
                                  "--out", str(submission), "--cache-dir", str(tmp_path / "c")]) == 0
    assert list(pd.read_csv(submission)["Id"]) == ids
    assert cli.run(evaluate.main, ["--checkpoint", str(out / "best.npz"), "--data", str(KAGGLE),
                                   "--out", str(tmp_path / "eval"), "--cam", "3",
                                   "--cache-dir", str(tmp_path / "c")]) == 0
    assert (tmp_path / "eval" / "class_activation_maps.png").stat().st_size > 10_000

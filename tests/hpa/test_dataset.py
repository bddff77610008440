"""Tests for hpa.data.reading.dataset: labels CSV parsing and finding samples on disk."""
import logging
import os

import numpy as np
import pytest
from PIL import Image
from real_files import TRAIN_CSV

from hpa.data.reading.dataset import open_dataset, read_ids_csv, read_labels_csv
from hpa.data.reading.labels import CHANNELS
from hpa.runtime.errors import HpaError

REAL_TRAIN_CSV = str(TRAIN_CSV)


def write_sample(folder, sample_id, rng, ext=".png", mode="L", side=8):
    """Write the 4 channel files of one random sample; return its (4, side, side) planes."""
    os.makedirs(folder, exist_ok=True)
    planes = rng.integers(0, 256, size=(4, side, side), dtype=np.uint8)
    for channel, plane in zip(CHANNELS, planes):
        if mode == "RGB":
            data = np.repeat(plane[:, :, None], 3, axis=2)
        elif mode == "I;16":
            data = plane.astype(np.uint16) * 257
        else:
            data = plane
        Image.fromarray(data).save(os.path.join(folder, f"{sample_id}_{channel}{ext}"))
    return planes


def write_csv(path, text):
    path.write_text(text)
    return path


@pytest.fixture
def rng():
    return np.random.default_rng(1)


@pytest.fixture
def kaggle_dir(tmp_path, rng):
    """Kaggle layout: train.csv + train/ with three samples, test/ + sample_submission.csv."""
    write_csv(tmp_path / "train.csv", "Id,Target\na,0\nb,16 0\nc,27\n")
    for sample_id in "abc":
        write_sample(tmp_path / "train", sample_id, rng)
    write_csv(tmp_path / "sample_submission.csv", "Id,Predicted\nt2,0\nt1,0\n")
    for sample_id in ("t1", "t2"):
        write_sample(tmp_path / "test", sample_id, rng)
    return tmp_path


# ---- read_labels_csv -------------------------------------------------------

def test_read_labels_csv(tmp_path):
    csv = write_csv(tmp_path / "l.csv", "Id,Target,Extra\n a ,16 0,x\n\nb,27\n")
    ids, labels = read_labels_csv(csv)
    assert ids == ["a", "b"]
    assert labels.dtype == np.uint8 and labels.shape == (2, 28)
    assert np.flatnonzero(labels[0]).tolist() == [0, 16]
    assert np.flatnonzero(labels[1]).tolist() == [27]


@pytest.mark.parametrize("text, message", [
    ("Name,Target\na,1\n", r"no 'Id' column"),
    ("Id,Label\na,1\n", r"no 'Target' column"),
    ("Id,Target\na,1\nb,\n", r"line 3: empty label"),
    ("Id,Target\na,1\nb\n", r"line 3: empty label"),
    ("Id,Target\na,1\n\nb,1 x\n", r"line 4: label 'x' is not a class number"),
    ("Id,Target\na,1.5\n", r"line 2: label '1.5' is not a class number"),
    ("Id,Target\na,1\nb,28\n", r"line 3: label 28 is outside 0..27"),
    ("Id,Target\na,-1\n", r"line 2: label -1 is outside 0..27"),
    ("Id,Target\na,1\nb,2\na,3\n", r"line 4: duplicate Id 'a' \(first on line 2\)"),
    ("Id,Target\na,1\n,2\n", r"line 3: empty Id"),
    ("", r"file is empty"),
    ("Id,Target\n", r"no data rows"),
])
def test_read_labels_csv_errors_name_file_and_line(tmp_path, text, message):
    csv = write_csv(tmp_path / "bad.csv", text)
    with pytest.raises(HpaError, match=message) as info:
        read_labels_csv(csv)
    assert "bad.csv" in str(info.value) and "\n" not in str(info.value)


def test_read_labels_csv_missing_file(tmp_path):
    with pytest.raises(HpaError, match=r"nope\.csv: file not found"):
        read_labels_csv(tmp_path / "nope.csv")


def test_read_ids_csv(tmp_path):
    csv = write_csv(tmp_path / "s.csv", "Id,Predicted\nx,0\ny,0\n")
    assert read_ids_csv(csv) == ["x", "y"]


def test_real_train_csv():
    if not os.path.exists(REAL_TRAIN_CSV):
        pytest.skip("real train.csv not available")
    ids, labels = read_labels_csv(REAL_TRAIN_CSV)
    assert len(ids) == 31072 and labels.shape == (31072, 28)
    counts = labels.sum(axis=0)
    assert counts[0] == 12885 and counts[27] == 11 and counts[25] == 8228
    assert np.bincount(labels.sum(axis=1))[1:].tolist() == [15126, 12485, 3160, 299, 2]


# ---- open_dataset ------------------------------------------------------------

def test_kaggle_train_folder(kaggle_dir, rng):
    ds = open_dataset(kaggle_dir)
    assert len(ds) == 3 and ds.ids == ["a", "b", "c"]
    assert ds.layout == "kaggle" and ds.ext == ".png"
    assert ds.root == os.path.join(kaggle_dir, "train")
    assert ds.source == os.path.join(kaggle_dir, "train.csv")
    assert np.flatnonzero(ds.labels[1]).tolist() == [0, 16]
    assert ds.image_files(2) == [os.path.join(kaggle_dir, "train", f"c_{c}.png") for c in CHANNELS]
    img = ds.read(0)
    assert img.shape == (4, 8, 8) and img.dtype == np.uint8


def test_read_returns_written_pixels(tmp_path, rng):
    planes = write_sample(tmp_path, "a", rng)
    write_csv(tmp_path / "labels.csv", "Id,Target\na,3\n")
    np.testing.assert_array_equal(open_dataset(tmp_path).read(0), planes)


def test_kaggle_test_split_uses_sample_submission(kaggle_dir):
    ds = open_dataset(kaggle_dir, split="test")
    assert ds.ids == ["t2", "t1"] and ds.labels is None
    assert ds.root == os.path.join(kaggle_dir, "test")


def test_test_split_ids_from_file_names(tmp_path, rng):
    for sample_id in ("z_1", "a_2"):
        write_sample(tmp_path, sample_id, rng)
    (tmp_path / "notes.txt").write_text("not an image")
    ds = open_dataset(tmp_path, split="test")
    assert ds.ids == ["a_2", "z_1"] and ds.labels is None and ds.source == str(tmp_path)


def test_external_csv_with_images_beside(tmp_path, rng):
    folder = tmp_path / "hpav18"
    for sample_id in ("10580_1610_C1_1", "10580_1610_C1_2"):
        write_sample(folder, sample_id, rng, ext=".jpg", mode="RGB")
    csv = write_csv(folder / "HPAv18.csv", "Id,Target\n10580_1610_C1_1,25\n10580_1610_C1_2,0 2\n")
    for path in (folder, csv):
        ds = open_dataset(path)
        assert ds.layout == "external" and ds.ext == ".jpg" and ds.root == str(folder)
        assert ds.read(1).shape == (4, 8, 8)


def test_csv_file_with_subfolder_named_after_it(kaggle_dir):
    ds = open_dataset(kaggle_dir / "train.csv")
    assert ds.root == os.path.join(kaggle_dir, "train") and len(ds) == 3


def test_16_bit_png_dataset_is_external(tmp_path, rng):
    planes = write_sample(tmp_path, "w", rng, mode="I;16")
    ds = open_dataset(tmp_path, split="test")
    assert ds.layout == "external"
    np.testing.assert_array_equal(ds.read(0), planes)


def test_missing_channel_file_named_up_front(kaggle_dir):
    os.remove(kaggle_dir / "train" / "b_blue.png")
    with pytest.raises(HpaError, match=r"sample b: missing blue channel file .*b_blue\.png.*--skip-bad"):
        open_dataset(kaggle_dir)


def test_extension_case_may_differ_per_file(kaggle_dir):
    """A folder mixing .png and .PNG: every file is found under its own spelling."""
    for channel in ("red", "green", "blue", "yellow"):
        os.rename(kaggle_dir / "train" / f"b_{channel}.png", kaggle_dir / "train" / f"b_{channel}.PNG")
    os.rename(kaggle_dir / "train" / "c_red.png", kaggle_dir / "train" / "c_red.Png")
    ds = open_dataset(kaggle_dir)
    assert ds.ids == ["a", "b", "c"] and ds.ext == ".png"
    assert os.path.basename(ds.image_files(1)[2]) == "b_blue.PNG"
    assert os.path.basename(ds.image_files(2)[0]) == "c_red.Png"
    assert ds.read(1).shape[0] == 4 and ds.read(2).shape[0] == 4


def test_skip_bad_drops_incomplete_samples(kaggle_dir, caplog):
    os.remove(kaggle_dir / "train" / "b_blue.png")
    os.remove(kaggle_dir / "train" / "b_red.png")
    with caplog.at_level(logging.WARNING, logger="hpa.data.reading.dataset"):
        ds = open_dataset(kaggle_dir, skip_bad=True)
    assert ds.ids == ["a", "c"]
    assert np.flatnonzero(ds.labels[1]).tolist() == [27]
    assert ds.skipped == [("b", "missing red, blue channel file(s)")]
    [record] = caplog.records
    assert "skipped 1 of 3 samples" in record.getMessage() and ": b" in record.getMessage()


def test_skip_bad_all_missing(tmp_path, rng):
    write_sample(tmp_path, "only", rng)
    write_csv(tmp_path / "train.csv", "Id,Target\nother,1\n")
    with pytest.raises(HpaError, match="no samples found in"):
        open_dataset(tmp_path, skip_bad=True)


def test_empty_folder(tmp_path):
    with pytest.raises(HpaError, match=f"no samples found in {tmp_path}"):
        open_dataset(tmp_path, split="test")


def test_csv_without_images(tmp_path):
    write_csv(tmp_path / "train.csv", "Id,Target\na,1\n")
    with pytest.raises(HpaError, match=f"no samples found in {tmp_path}"):
        open_dataset(tmp_path)


def test_train_folder_without_csv(tmp_path, rng):
    write_sample(tmp_path, "a", rng)
    with pytest.raises(HpaError, match="no labels CSV .* split='test'"):
        open_dataset(tmp_path)


def test_several_label_csvs(tmp_path, rng):
    write_sample(tmp_path, "a", rng)
    write_csv(tmp_path / "one.csv", "Id,Target\na,1\n")
    write_csv(tmp_path / "two.csv", "Id,Target\na,2\n")
    with pytest.raises(HpaError, match=r"several labels CSVs .*one\.csv, two\.csv"):
        open_dataset(tmp_path)


def test_bad_arguments(tmp_path):
    with pytest.raises(HpaError, match="split must be one of"):
        open_dataset(tmp_path, split="valid")
    with pytest.raises(HpaError, match="no such file or folder"):
        open_dataset(tmp_path / "absent")

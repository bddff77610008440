"""Find the samples of a labelled or unlabelled image set on disk.

:func:`open_dataset` accepts the layouts people actually have:

* a Kaggle folder: ``train.csv`` + ``train/`` (or ``sample_submission.csv`` +
  ``test/`` with ``split="test"``);
* a labels CSV (``Id,Target``) with the images beside it, given as the CSV
  file or as its folder;
* a folder of test images only, whose Ids are read from the file names.

Images are named ``<Id>_<colour>.<ext>`` for the colours of
:data:`hpa.data.reading.labels.CHANNELS`. The folder is listed once, so checking that all
4 x 31,072 channel files exist costs a fraction of a second.

CSV errors name the file and its *line number* (the header is line 1, so the
first data row is line 2), as shown by any text editor.
"""
import logging
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from PIL import Image

from hpa.data.reading.channel_files import CHANNEL_FILE, common_extension, list_channel_files, other_spellings
from hpa.data.reading.imageio import IMAGE_FORMATS, read_sample
from hpa.data.reading.labels import CHANNELS, NUM_CLASSES, parse_target
from hpa.data.reading.sample_ids import check_id
from hpa.runtime.errors import HpaError, quote

log = logging.getLogger(__name__)

SPLITS = ("train", "test")
# How many Ids a skip report lists before summarising the rest.
_REPORT_IDS = 10


@dataclass(kw_only=True)
class Samples:
    """N samples by Id, with their labels: what a :class:`Dataset` lists and
    an image cache (:class:`hpa.data.cache.format.ImageCache`) holds.

    ids       N sample Ids
    labels    uint8 (N, 28) multi-hot matrix, ``labels[i]`` of ``ids[i]``, or
              None for unlabelled data
    skipped   (Id, reason) of samples left out (missing or unreadable files)
    """

    ids: list = field(repr=False)
    labels: np.ndarray = field(repr=False)
    skipped: list = field(default_factory=list, repr=False)

    def __len__(self):
        return len(self.ids)


@dataclass
class Dataset(Samples):
    """Samples on disk: ``ids[i]`` has the four files ``image_files(i)``.

    root      folder holding the image files
    layout    "kaggle" (8-bit grayscale PNG) or "external" (coloured RGB
              JPEG/PNG or 16-bit originals); :meth:`read` handles any mode
    ext       file extension of the channel files, e.g. ".png" (the most
              common spelling; each file is found whatever its case)
    source    the CSV the Ids came from, or ``root`` when they came from
              the file names
    ids, labels, skipped  as in :class:`Samples` (``skipped``: samples
              dropped by ``skip_bad``)
    """

    root: str
    layout: str
    ext: str
    source: str
    # File names on disk whose extension is spelt otherwise than ``ext``
    # (x_red.PNG in a folder of .png), by the name spelt with ``ext``.
    spelling: dict = field(default_factory=dict, repr=False)
    intensity: str = "fixed"   # how 16-bit files become 8-bit (hpa.data.reading.imageio.parse_intensity)

    def image_files(self, i):
        """The four channel file paths of sample ``i``, red, green, blue, yellow."""
        names = (f"{self.ids[i]}_{c}{self.ext}" for c in CHANNELS)
        return [os.path.join(self.root, self.spelling.get(name, name)) for name in names]

    def read(self, i):
        """Sample ``i`` as uint8 (4, H, W)."""
        return read_sample(self.image_files(i), self.ids[i], self.intensity)


def read_labels_csv(path):
    """Read an ``Id,Target`` CSV -> (ids list[str] of N, labels uint8 (N, 28)).

    Raises :class:`HpaError` naming the file and line for a missing column,
    an empty Id or label, a label that is not a class number 0..27, a
    duplicate Id, or an empty file. Extra columns are ignored.
    """
    table = _read_table(path, ("Id", "Target"))
    ids = _check_ids(table, path)
    labels = np.zeros((len(ids), NUM_CLASSES), dtype=np.uint8)
    # Only a few hundred distinct Target strings occur, so parse each once.
    parsed = {}
    for row, (line, target) in enumerate(zip(table.index, table["Target"])):
        if target not in parsed:
            parsed[target] = parse_target(target, where=f"{path} line {line}")
        labels[row, parsed[target]] = 1
    return ids, labels


def read_ids_csv(path):
    """Read the ``Id`` column of a CSV (e.g. sample_submission.csv) -> list[str]."""
    return _check_ids(_read_table(path, ("Id",)), path)


def _read_table(path, columns):
    """CSV -> DataFrame of strings indexed by 1-based line number.

    Blank lines are kept while parsing so that row positions map to line
    numbers, then dropped.
    """
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False)
    except FileNotFoundError:
        raise HpaError(f"{path}: file not found") from None
    except pd.errors.EmptyDataError:
        raise HpaError(f"{path}: file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise HpaError(f"{path}: not a readable CSV ({' '.join(str(err)[:500].split())})") from None
    table.columns = [str(c).strip() for c in table.columns]
    for col in columns:
        if col not in table.columns:
            raise HpaError(f"{path}: no {col!r} column (header has {quote(', '.join(table.columns))})")
    table = table[list(columns)].apply(lambda s: s.str.strip())
    table.index = table.index + 2
    table = table[(table != "").any(axis=1)]
    if table.empty:
        raise HpaError(f"{path}: no data rows")
    return table


def _check_ids(table, path):
    """Ids of ``table`` as a list, refusing empty and duplicate ones."""
    ids = table["Id"]
    empty = ids == ""
    if empty.any():
        raise HpaError(f"{path} line {ids.index[empty.argmax()]}: empty Id")
    for line, sample_id in ids.items():
        check_id(sample_id, f"{path} line {line}")
    dup = ids.duplicated()
    if dup.any():
        line = ids.index[dup.argmax()]
        first = ids.index[(ids == ids[line]).argmax()]
        raise HpaError(f"{path} line {line}: duplicate Id {quote(ids[line])} (first on line {first})")
    return ids.tolist()


def open_dataset(path, split="train", skip_bad=False):
    """Open the ``split`` ("train" or "test") samples at ``path``.

    ``path`` is a folder or a CSV file (see the module docstring). Labels are
    read for "train" and left as None for "test".

    Every sample's four channel files are checked to exist. A missing file
    raises :class:`HpaError` naming it, unless ``skip_bad`` is set: then the
    incomplete samples are dropped, listed in ``Dataset.skipped`` and
    reported in one logged warning.
    """
    if split not in SPLITS:
        raise HpaError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise HpaError(f"{path}: no such file or folder")
    csv_path, root = _locate(path, split)
    names = list_channel_files(root)
    if csv_path is None:
        ids, labels = sorted({m["id"] for m in map(CHANNEL_FILE.match, names) if m}), None
        for sample_id in ids:
            check_id(sample_id, f"{root}: an image file's name")
    elif split == "train":
        ids, labels = read_labels_csv(csv_path)
    else:
        ids, labels = read_ids_csv(csv_path), None
    if not names:
        raise HpaError(f"no samples found in {root}")
    ext = common_extension(names)
    spelling = other_spellings(names, ext)
    dataset = Dataset(root, "kaggle", ext, csv_path or root, ids=ids, labels=labels, spelling=spelling)
    _drop_incomplete(dataset, set(names) | set(spelling), skip_bad)
    if not dataset.ids:
        raise HpaError(f"no samples found in {root} (none has all four {ext} channel files)")
    dataset.layout = _detect_layout(dataset)
    return dataset


def _locate(path, split):
    """Resolve ``path`` -> (CSV path or None, folder holding the images)."""
    if os.path.isfile(path):
        folder = os.path.dirname(os.path.abspath(path))
        stem = os.path.splitext(os.path.basename(path))[0]
        return path, _image_folder(folder, (stem, split))
    if split == "test":
        root = _image_folder(path, ("test",))
        for where in (path, root):
            candidate = os.path.join(where, "sample_submission.csv")
            if os.path.isfile(candidate):
                return candidate, root
        return None, root
    return _labels_csv_in(path), _image_folder(path, ("train",))


def _image_folder(folder, subfolders):
    """The first existing ``folder/<sub>`` of ``subfolders``, else ``folder``."""
    for sub in subfolders:
        candidate = os.path.join(folder, sub)
        if os.path.isdir(candidate):
            return candidate
    return folder


def _labels_csv_in(folder):
    """``folder/train.csv``, else the one CSV in ``folder`` with Id and Target columns."""
    train_csv = os.path.join(folder, "train.csv")
    if os.path.isfile(train_csv):
        return train_csv
    found = []
    for name in sorted(os.listdir(folder)):
        if name.lower().endswith(".csv"):
            try:
                header = pd.read_csv(os.path.join(folder, name), nrows=0).columns
            except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
                continue
            if {"Id", "Target"} <= {str(c).strip() for c in header}:
                found.append(name)
    if not found:
        raise HpaError(f"no labels CSV (with Id and Target columns) in {folder}; "
                       f"use split='test' for unlabelled images")
    if len(found) > 1:
        raise HpaError(f"several labels CSVs in {folder} ({', '.join(found)}); pass the CSV file itself")
    return os.path.join(folder, found[0])


def _drop_incomplete(dataset, present, skip_bad):
    """Raise on (or with ``skip_bad`` drop) samples lacking a channel file."""
    keep, skipped = [], []
    for i, sample_id in enumerate(dataset.ids):
        missing = [c for c in CHANNELS if f"{sample_id}_{c}{dataset.ext}" not in present]
        if not missing:
            keep.append(i)
            continue
        first = os.path.join(dataset.root, f"{sample_id}_{missing[0]}{dataset.ext}")
        if not skip_bad:
            raise HpaError(f"sample {sample_id}: missing {missing[0]} channel file {first} "
                           f"(pass --skip-bad to leave out incomplete samples)")
        skipped.append((sample_id, f"missing {', '.join(missing)} channel file(s)"))
    if skipped:
        dataset.ids = [dataset.ids[i] for i in keep]
        if dataset.labels is not None:
            dataset.labels = dataset.labels[keep]
        dataset.skipped = skipped
        log.warning("skipped %d of %d samples in %s with missing channel files: %s",
                    len(skipped), len(keep) + len(skipped), dataset.root, format_ids(skipped))


def format_ids(pairs):
    """``[(Id, reason), ...]`` -> "a, b, c (+N more)" for one-line reports."""
    shown = ", ".join(sample_id for sample_id, _ in pairs[:_REPORT_IDS])
    more = len(pairs) - _REPORT_IDS
    return f"{shown} (+{more} more)" if more > 0 else shown


def _detect_layout(dataset):
    """"kaggle" when the red files are 8-bit grayscale PNGs, else "external".

    Only file headers are read: the first of the first few samples whose red
    file opens decides, so one broken file does not decide for the set.
    """
    if dataset.ext.lower() != ".png":
        return "external"
    for i in range(min(len(dataset), 10)):
        try:
            with Image.open(dataset.image_files(i)[0], formats=IMAGE_FORMATS) as im:
                return "kaggle" if im.mode == "L" else "external"
        except Exception:  # a broken header; read() will report it by name
            continue
    raise HpaError(f"{dataset.image_files(0)[0]}: unreadable image (as are the first samples' red files)")

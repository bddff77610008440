"""``python -m hpa.data_plots``: label statistics and a montage of a Kaggle-layout folder.

    python -m hpa.data_plots --data DIR --out OUTDIR

writes ``label_frequency.png``, ``cooccurrence.png``, ``labels_per_sample.png``
and ``montage.png`` (see :mod:`hpa.evaluation.data_plots`).
"""
import os
import sys

import numpy as np
import pandas as pd
from PIL import Image

from hpa.cli import ArgumentParser, positive_int, run
from hpa.data.labels import CHANNELS, NUM_CLASSES, targets_to_matrix
from hpa.errors import HpaError
from hpa.evaluation.data_plots import plot_cooccurrence, plot_label_frequency, plot_labels_per_sample, plot_montage

PLOT_FILES = ("label_frequency.png", "cooccurrence.png", "labels_per_sample.png", "montage.png")


def read_labels(folder):
    """``folder/train.csv`` -> (Ids, uint8 labels (N, 28))."""
    csv = os.path.join(folder, "train.csv")
    if not os.path.isfile(csv):
        raise HpaError(f"{folder}: no train.csv (expected the Kaggle layout: train.csv and train/)")
    try:
        table = pd.read_csv(csv, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise HpaError(f"{csv}: not a readable CSV ({e})") from None
    if not {"Id", "Target"} <= set(table.columns):
        raise HpaError(f"{csv}: needs the columns Id and Target")
    return table["Id"].tolist(), targets_to_matrix(table["Target"].tolist(), where=f"{csv} row")


def read_image(folder, sample_id):
    """The four channel PNGs of one sample -> uint8 (4, H, W)."""
    planes = []
    for name in CHANNELS:
        path = os.path.join(folder, "train", f"{sample_id}_{name}.png")
        try:
            with Image.open(path) as im:
                planes.append(np.asarray(im.convert("L")))
        except FileNotFoundError:
            raise HpaError(f"sample {sample_id}: missing {path}") from None
        except OSError as e:
            raise HpaError(f"{path}: unreadable image ({e})") from None
    if len({p.shape for p in planes}) != 1:
        raise HpaError(f"sample {sample_id}: channels differ in size")
    return np.stack(planes)


def pick_samples(labels, count):
    """Row indices for a montage: greedily add samples showing classes not
    yet shown, then fill up in file order."""
    chosen, seen = [], np.zeros(NUM_CLASSES, dtype=bool)
    for i, row in enumerate(labels.astype(bool)):
        if len(chosen) == count:
            break
        if (row & ~seen).any():
            chosen.append(i)
            seen |= row
    taken = set(chosen)
    rest = [i for i in range(len(labels)) if i not in taken]
    return sorted(chosen + rest[: count - len(chosen)])


def draw_all(folder, out_dir, montage=6):
    """Write the four plots of the Kaggle-layout ``folder`` into ``out_dir``."""
    ids, labels = read_labels(folder)
    if len(ids) == 0:
        raise HpaError(f"{folder}/train.csv has no samples")
    os.makedirs(out_dir, exist_ok=True)
    paths = [os.path.join(out_dir, name) for name in PLOT_FILES]
    plot_label_frequency(labels, paths[0])
    plot_cooccurrence(labels, paths[1])
    plot_labels_per_sample(labels, paths[2])
    rows = pick_samples(labels, montage)
    images = np.stack([read_image(folder, ids[i]) for i in rows])
    plot_montage(images, paths[3], labels=labels[rows], ids=[ids[i] for i in rows])
    return paths


def main(argv=None):
    parser = ArgumentParser(
        prog="python -m hpa.data_plots",
        description="Plot label statistics and sample images of a Kaggle-layout data set.",
    )
    parser.add_argument("--data", required=True, help="folder with train.csv and train/")
    parser.add_argument("--out", required=True, help="folder for the PNG plots")
    parser.add_argument("--montage", type=positive_int, default=6, help="samples in the montage")
    args = parser.parse_args(argv)
    for path in draw_all(args.data, args.out, montage=args.montage):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(run(main))

"""``python -m hpa.data_plots``: label statistics and a montage of a labelled image set.

    python -m hpa.data_plots --data DIR --out OUTDIR

writes ``label_frequency.png``, ``cooccurrence.png``, ``labels_per_sample.png``
and ``montage.png`` (see :mod:`hpa.evaluation.data_plots`). ``DIR`` is read by
:func:`hpa.data.reading.dataset.open_dataset`, the reader training uses: a Kaggle
folder, or a labels CSV with its images beside it.
"""
import os
import sys

import numpy as np

from hpa.data.reading.dataset import open_dataset
from hpa.data.reading.imageio import resize_area
from hpa.data.reading.labels import NUM_CLASSES
from hpa.evaluation.data_plots import plot_cooccurrence, plot_label_frequency, plot_labels_per_sample, plot_montage
from hpa.runtime.cli import ArgumentParser, positive_int, run

PLOT_FILES = ("label_frequency.png", "cooccurrence.png", "labels_per_sample.png", "montage.png")


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


def draw_all(data, out_dir, montage=6):
    """Write the four plots of the labelled set ``data`` into ``out_dir``.

    ``data`` is anything :func:`hpa.data.reading.dataset.open_dataset` reads: a
    Kaggle folder (``train.csv`` + ``train/``) or a labels CSV with its images.
    """
    dataset = open_dataset(data, split="train")
    os.makedirs(out_dir, exist_ok=True)
    paths = [os.path.join(out_dir, name) for name in PLOT_FILES]
    plot_label_frequency(dataset.labels, paths[0])
    plot_cooccurrence(dataset.labels, paths[1])
    plot_labels_per_sample(dataset.labels, paths[2])
    rows = pick_samples(dataset.labels, montage)
    images = [dataset.read(i) for i in rows]
    # External images come in several sizes; the montage shows them all at the smallest.
    side = min(min(image.shape[1:]) for image in images)
    images = np.stack([resize_area(image, side) for image in images])
    plot_montage(images, paths[3], labels=dataset.labels[rows], ids=[dataset.ids[i] for i in rows])
    return paths


def main(argv=None):
    parser = ArgumentParser(
        prog="python -m hpa.data_plots",
        description="Plot label statistics and sample images of a labelled data set.",
    )
    parser.add_argument("--data", required=True,
                        help="a Kaggle folder (train.csv and train/) or a labels CSV beside its images")
    parser.add_argument("--out", required=True, help="folder for the PNG plots")
    parser.add_argument("--montage", type=positive_int, default=6, help="samples in the montage")
    args = parser.parse_args(argv)
    for path in draw_all(args.data, args.out, montage=args.montage):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(run(main))

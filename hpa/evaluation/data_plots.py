"""Pictures of a data set: label statistics and a montage of samples.

Each plot is one function that takes arrays and an output path and writes a
PNG (atomically):

* :func:`plot_label_frequency`   labels (N, 28) -> bar chart per class
* :func:`plot_cooccurrence`      labels (N, 28) -> 28 x 28 heat map
* :func:`plot_labels_per_sample` labels (N, 28) -> histogram of set sizes
* :func:`plot_montage`           images (N, 4, H, W) uint8 -> one row per
  sample: the red, green, blue and yellow channels in their stain colours
  and the composite

The command ``python -m hpa.data_plots`` draws all four for a folder.

Plots are drawn on a bare :class:`matplotlib.figure.Figure` (Agg renderer),
so importing this module never touches pyplot or a display.
"""
import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from hpa.data.reading.labels import CHANNELS, CLASS_NAMES, NUM_CLASSES, as_label_matrix
from hpa.runtime.errors import HpaError
from minidl.atomic import atomic_path

# Each stain's display colour as RGB weights; yellow lights red and green.
STAIN_COLOURS = {
    "red": (1.0, 0.0, 0.0),
    "green": (0.0, 1.0, 0.0),
    "blue": (0.0, 0.0, 1.0),
    "yellow": (1.0, 1.0, 0.0),
}


def _class_labels():
    return [f"{c} {name}" for c, name in enumerate(CLASS_NAMES)]


def _save(fig, path):
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)


def plot_label_frequency(labels, path, title="Samples per class"):
    """Horizontal bar per class, labelled with its count (rare ones stay readable)."""
    counts = as_label_matrix(labels, classes=NUM_CLASSES).sum(axis=0)
    fig = Figure(figsize=(8, 8), layout="constrained")
    ax = fig.add_subplot()
    rows = np.arange(NUM_CLASSES)
    ax.barh(rows, counts, color="tab:green")
    ax.set_yticks(rows, _class_labels(), fontsize=8)
    ax.invert_yaxis()  # class 0 on top
    for row, count in zip(rows, counts):
        ax.text(count, row, f" {count}", va="center", fontsize=7)
    ax.set_xlim(0, max(1, counts.max()) * 1.15)
    ax.set_xlabel("samples")
    ax.set_title(f"{title} ({len(labels)} samples)")
    _save(fig, path)


def plot_cooccurrence(labels, path, title="Label co-occurrence"):
    """Heat map of how many samples carry both classes (diagonal: each class)."""
    y = as_label_matrix(labels, classes=NUM_CLASSES).astype(np.int64)
    counts = y.T @ y
    fig = Figure(figsize=(9.5, 8.5), layout="constrained")
    ax = fig.add_subplot()
    # Counts span four orders of magnitude: a log scale shows the rare pairs.
    shown = np.ma.masked_equal(counts, 0)
    image = ax.imshow(shown, cmap="viridis", norm=LogNorm(vmin=1, vmax=max(2, counts.max())))
    ticks = np.arange(NUM_CLASSES)
    ax.set_xticks(ticks, _class_labels(), rotation=90, fontsize=7)
    ax.set_yticks(ticks, _class_labels(), fontsize=7)
    ax.set_title(f"{title} (blank: never together)")
    fig.colorbar(image, ax=ax, shrink=0.8, label="samples")
    _save(fig, path)


def plot_labels_per_sample(labels, path, title="Labels per sample"):
    """Bar chart of how many samples have 1, 2, 3, ... labels."""
    sizes = as_label_matrix(labels, classes=NUM_CLASSES).sum(axis=1)
    hist = np.bincount(sizes, minlength=2)
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.add_subplot()
    ks = np.arange(len(hist))
    ax.bar(ks, hist, color="tab:blue")
    for k, count in zip(ks, hist):
        if count:
            ax.text(k, count, f"{count}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(ks)
    ax.set_xlabel("labels in the sample")
    ax.set_ylabel("samples")
    ax.set_title(f"{title} ({len(sizes)} samples)")
    _save(fig, path)


def tint(channel, colour):
    """uint8 (H, W) -> uint8 (H, W, 3) drawn in an RGB ``colour``."""
    return (channel[..., None].astype(np.float32) * np.asarray(colour, np.float32)).astype(np.uint8)


def composite(image):
    """uint8 (4, H, W) in CHANNELS order -> uint8 (H, W, 3).

    Every channel adds its stain colour, as in the Human Protein Atlas
    viewer: yellow (ER) shows as red plus green.
    """
    total = np.zeros(image.shape[1:] + (3,), dtype=np.float32)
    for channel, name in zip(image, CHANNELS):
        total += channel[..., None].astype(np.float32) * np.asarray(STAIN_COLOURS[name], np.float32)
    return np.clip(total, 0, 255).astype(np.uint8)


def plot_montage(images, path, labels=None, ids=None, title="Samples"):
    """One row per sample: its 4 channels in their colours and the composite.

    images  uint8 (N, 4, H, W) in CHANNELS order
    labels  optional (N, 28): class names are printed beside each row
    ids     optional N sample Ids
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1] != len(CHANNELS):
        raise HpaError(f"images have shape {images.shape}, expected (N, 4, H, W)")
    n = len(images)
    if labels is not None:
        labels = as_label_matrix(labels, rows=n, classes=NUM_CLASSES)
    columns = list(CHANNELS) + ["composite"]
    fig = Figure(figsize=(2.2 * len(columns) + 2.5, 2.2 * n + 0.6), layout="constrained")
    axes = fig.subplots(n, len(columns), squeeze=False)
    for i, image in enumerate(images):
        tiles = [tint(image[c], STAIN_COLOURS[name]) for c, name in enumerate(CHANNELS)]
        tiles.append(composite(image))
        for j, tile in enumerate(tiles):
            ax = axes[i, j]
            ax.imshow(tile, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(columns[j])
        caption = []
        if ids is not None:
            caption.append(str(ids[i])[:13])
        if labels is not None:
            caption += [CLASS_NAMES[c] for c in np.flatnonzero(labels[i])]
        if caption:
            axes[i, 0].set_ylabel("\n".join(caption), fontsize=7, rotation=0, ha="right", va="center")
    fig.suptitle(title)
    _save(fig, path)

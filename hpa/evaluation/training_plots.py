"""Plots of a training run: curves, per-class F1, F1 against threshold.

Each function draws one figure and saves it as PNG (matplotlib's Agg backend,
so it works on machines without a screen).
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from hpa.data.reading.labels import CLASS_NAMES  # noqa: E402
from minidl.atomic import atomic_path  # noqa: E402


def _save(fig, path):
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
    return path


def plot_training_curves(metrics_csv, path):
    """Loss, macro F1, precision and recall per epoch from ``metrics.csv``."""
    log = pd.read_csv(metrics_csv)
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    axes[0].plot(log["epoch"], log["train_loss"], marker="o", label="train")
    axes[0].plot(log["epoch"], log["val_loss"], marker="o", label="validation")
    axes[0].set_title("loss")
    axes[1].plot(log["epoch"], log["val_macro_f1"], marker="o", color="tab:green")
    axes[1].set_title("validation macro F1 (threshold 0.5)")
    axes[2].plot(log["epoch"], log["val_precision"], marker="o", label="precision")
    axes[2].plot(log["epoch"], log["val_recall"], marker="o", label="recall")
    axes[2].set_title("validation macro precision / recall")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].legend()
    axes[2].legend()
    return _save(fig, path)


def plot_per_class_f1(f1, support, path, title="per-class F1"):
    """Horizontal bar per class, annotated with its number of true samples."""
    f1 = np.asarray(f1)
    fig, ax = plt.subplots(figsize=(8, 9))
    y = np.arange(len(f1))
    ax.barh(y, f1, color="tab:blue")
    ax.set_yticks(y, [f"{i} {name} (n={int(s)})" for i, (name, s) in enumerate(zip(CLASS_NAMES, support))],
                  fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.axvline(f1.mean(), color="tab:red", linestyle="--", label=f"macro F1 {f1.mean():.3f}")
    ax.set_xlabel("F1")
    ax.set_title(title)
    ax.legend(loc="lower right")
    return _save(fig, path)


def plot_f1_vs_threshold(grid, f1, thresholds, path):
    """One small panel per class: F1 against threshold, the chosen one marked.

    grid (G,), f1 (G, C), thresholds (C,).
    """
    classes = f1.shape[1]
    cols = 7
    rows = int(np.ceil(classes / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols, 1.9 * rows), sharex=True, sharey=True)
    for c, ax in enumerate(axes.flat):
        if c >= classes:
            ax.axis("off")
            continue
        ax.plot(grid, f1[:, c], linewidth=1)
        ax.axvline(thresholds[c], color="tab:red", linewidth=0.8)
        ax.set_title(f"{c} {CLASS_NAMES[c]}"[:24], fontsize=7)
        ax.tick_params(labelsize=6)
    fig.supxlabel("threshold")
    fig.supylabel("F1")
    fig.tight_layout()
    return _save(fig, path)

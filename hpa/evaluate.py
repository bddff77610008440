"""Evaluate trained models on a labelled folder: ``python -m hpa.evaluate --checkpoint best.npz --data DIR``.

Prints macro F1 (the competition metric), exact-match and per-label accuracy,
and the per-class precision/recall/F1 table; writes the table and plots
(per-class F1, F1 against threshold, and Grad-CAM maps of the first model,
computed with the engine's own backward pass) to ``--out``. Every file is
written atomically; an ``--out`` folder that holds files is refused unless
``--overwrite`` is given. ``--skip-bad`` leaves out samples whose images are
missing or unreadable, and the report says how many.
"""
import os
import sys

from hpa.data.cache.source import cached_images
from hpa.evaluation.inference import add_arguments, load_models, mean_thresholds, predict_probs, skipped_samples
from hpa.evaluation.metrics import (
    classification_report,
    hamming_accuracy,
    macro_f1,
    precision_recall_f1,
    subset_accuracy,
)
from hpa.evaluation.thresholds import f1_curve, predict
from hpa.evaluation.training_plots import plot_f1_vs_threshold, plot_per_class_f1
from hpa.runtime import cli
from hpa.runtime.device import use_device
from hpa.training.run_folder import check_output_folder
from minidl.atomic import atomic_write_text


def build_parser():
    p = cli.ArgumentParser(prog="python -m hpa.evaluate", description=__doc__)
    add_arguments(p, "labelled folder (Kaggle or HPA external layout)")
    p.add_argument("--out", default="evaluation", help="folder for the table and plots")
    p.add_argument("--cam", type=int, default=4,
                   help="samples to draw Grad-CAM maps for (their most probable class; every network; "
                   "the parallel LeNet shows one map per branch; 0: none)")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    check_output_folder(args.out, args.overwrite)  # before the long work
    use_device(args.device)
    loaded = load_models(args.checkpoint, args.device)
    cache = cached_images(args.data, loaded[0][1]["image_size"], root=args.cache_dir, skip_bad=args.skip_bad,
                          intensity=loaded[0][1].get("config", {}).get("intensity", "fixed"))
    probs = predict_probs(loaded, cache.images, args.batch_size, args.tta, args.device)
    thresholds = mean_thresholds(loaded, args.threshold, args.checkpoint)
    y_true, y_pred = cache.labels, predict(probs, thresholds, at_least_one=args.at_least_one)
    os.makedirs(args.out, exist_ok=True)
    table = classification_report(y_true, y_pred)
    summary = (f"samples: {len(y_true)}{left_out(skipped_samples(args.data, cache, skip_bad=args.skip_bad))}\nmacro F1: {macro_f1(y_true, y_pred):.4f}\n"
               f"exact-match accuracy: {subset_accuracy(y_true, y_pred):.4f}\n"
               f"per-label accuracy: {hamming_accuracy(y_true, y_pred):.4f}\n")
    print(summary + "\n" + table)
    atomic_write_text(os.path.join(args.out, "report.txt"), summary + "\n" + table + "\n")
    _, _, f1, support = precision_recall_f1(y_true, y_pred)
    plot_per_class_f1(f1, support, os.path.join(args.out, "per_class_f1.png"))
    grid, curve = f1_curve(probs, y_true)
    plot_f1_vs_threshold(grid, curve, thresholds, os.path.join(args.out, "f1_vs_threshold.png"))
    model, meta = loaded[0]
    if args.cam > 0:
        from hpa.evaluation.cam import plot_cams
        path = plot_cams(model, meta, cache.images[: args.cam], probs[: args.cam],
                         os.path.join(args.out, "class_activation_maps.png"))
        print(f"Grad-CAM of {min(args.cam, len(probs))} samples: {path}")
    print(f"wrote report.txt and plots to {os.path.abspath(args.out)}")
    return 0


def left_out(skipped):
    """`` (M left out: ...)`` when samples were skipped, else ''."""
    return f" ({len(skipped)} left out: missing or unreadable images)" if skipped else ""


if __name__ == "__main__":
    sys.exit(cli.run(main))

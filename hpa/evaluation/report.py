"""The run report: how good the predictions are, against what a model that saw nothing scores.

Three macro F1 figures, because each answers a different question:

* at threshold 0.5: the network's calibrated output as it is;
* with **cross-fitted** per-class thresholds: tuned on one half of validation
  and scored on the other, an honest estimate of tuned thresholds on new data;
* with thresholds tuned on all of validation: optimistic, since threshold 0
  ("always yes") is on the grid and the same samples choose and score;

and the **best constant predictor** (per class always "yes"), the floor any
network must clear.

Per-label accuracy (the fraction of the N x 28 yes/no decisions that are
right; the Inception-ResNet-V2 paper's figure) is given next to macro F1, with
its own floor: predicting "no" everywhere scores 1 - (mean labels per sample) / 28,
about 0.94 on HPA, because most labels are absent.
"""
import json
import os

import numpy as np

from hpa.evaluation.metrics import classification_report, hamming_accuracy, macro_f1, precision_recall_f1
from hpa.evaluation.thresholds import f1_curve, predict, search_thresholds
from hpa.evaluation.training_plots import plot_f1_vs_threshold, plot_per_class_f1
from minidl.atomic import atomic_write_text


def summarise(probs, y_true, thresholds=0.5):
    """Macro F1, precision, recall and per-label accuracy of ``probs >= thresholds`` against y_true (N, C)."""
    y_pred = (probs >= np.asarray(thresholds)).astype(np.uint8)
    precision, recall, _, _ = precision_recall_f1(y_true, y_pred)
    return {"macro_f1": float(macro_f1(y_true, y_pred)), "label_accuracy": hamming_accuracy(y_true, y_pred),
            "precision": float(np.mean(precision)), "recall": float(np.mean(recall))}


def constant_baseline_f1(val_labels):
    """Macro F1 of the best constant predictor: per class, always "yes" or always "no".

    Always "yes" for class c scores 2p/(1+p) (p = its prevalence in the
    validation set), always "no" scores 0, so "yes" is the better constant for
    every class. Choosing it with knowledge of validation makes this an upper
    bound for any predictor that ignores the images.
    """
    prevalence = np.asarray(val_labels).mean(axis=0)
    return float(np.mean(2 * prevalence / (1 + prevalence)))


def cross_fitted_f1(probs, y_true, seed=0):
    """Macro F1 with per-class thresholds tuned on one half of validation, scored on the other.

    Each half's predictions come from thresholds tuned on the other half, and
    the two halves' predictions are scored together.
    """
    order = np.random.default_rng(seed).permutation(len(y_true))
    halves = np.array_split(order, 2)
    y_pred = np.zeros_like(y_true)
    for tune, score in (halves, halves[::-1]):
        y_pred[score] = predict(probs[score], search_thresholds(probs[tune], y_true[tune]))
    return macro_f1(y_true, y_pred)


def write_report(out_dir, probs, y_true, log=print, heading=""):
    """``report.txt``, ``summary.json`` and two plots in ``out_dir``; returns the summary.

    probs (N, 28) validation probabilities, y_true (N, 28) their labels;
    ``heading`` (e.g. the recipe's name) opens the report.
    """
    thresholds = search_thresholds(probs, y_true)
    at_half = summarise(probs, y_true)
    tuned_pred = predict(probs, thresholds)
    tuned = macro_f1(y_true, tuned_pred)
    crossed = cross_fitted_f1(probs, y_true)
    baseline = constant_baseline_f1(y_true)
    tuned_accuracy, all_no = hamming_accuracy(y_true, tuned_pred), 1 - float(np.mean(y_true))
    report = classification_report(y_true, tuned_pred)
    atomic_write_text(os.path.join(out_dir, "report.txt"), (
        f"{heading}validation samples: {len(y_true)}\n"
        f"macro F1 at threshold 0.5:           {at_half['macro_f1']:.4f}\n"
        f"macro F1, cross-fitted thresholds:   {crossed:.4f} (tuned on one half, scored on the other)\n"
        f"macro F1 at per-class thresholds:    {tuned:.4f} (tuned on this validation set: optimistic)\n"
        f"best constant predictor macro F1:    {baseline:.4f}\n"
        f"per-label accuracy at threshold 0.5: {at_half['label_accuracy']:.4f} "
        f"(at per-class thresholds {tuned_accuracy:.4f}; all \"no\" scores {all_no:.4f})\n\n"
        f"per class, at the per-class thresholds:\n{report}\n"))
    _, _, f1, support = precision_recall_f1(y_true, tuned_pred)
    plot_per_class_f1(f1, support, os.path.join(out_dir, "per_class_f1.png"),
                      title=f"per-class F1 at tuned thresholds (macro {tuned:.3f})")
    grid, curve = f1_curve(probs, y_true)
    plot_f1_vs_threshold(grid, curve, thresholds, os.path.join(out_dir, "f1_vs_threshold.png"))
    log(f"validation macro F1: {at_half['macro_f1']:.4f} at threshold 0.5, {crossed:.4f} with cross-fitted "
        f"per-class thresholds ({tuned:.4f} tuned on all of validation); a constant predictor scores "
        f"{baseline:.4f}; per-label accuracy {at_half['label_accuracy']:.4f} at 0.5 (all \"no\": {all_no:.4f})")
    summary = {"macro_f1_0.5": at_half["macro_f1"], "macro_f1_cross_fitted": crossed, "macro_f1_tuned": tuned,
               "constant_baseline": baseline, "label_accuracy_0.5": at_half["label_accuracy"],
               "label_accuracy_tuned": tuned_accuracy, "label_accuracy_all_no": all_no,
               "validation_samples": int(len(y_true))}
    atomic_write_text(os.path.join(out_dir, "summary.json"), json.dumps(summary, indent=2) + "\n")
    return summary

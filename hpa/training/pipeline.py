"""A whole training command, from its checked configuration to its run folder, in one place.

    networks = SplitNetworks(config)  # (hpa.train, before the process group) bad options fail
    run_training(config, group, networks):
        the first network on its device with its --init weights   (unusable weights fail here)
        the run folder checked and claimed, config.json           (hpa.training.preflight)
        the --data folders (or the synthetic set), cached         (rank 0 first)
        for each split (the hold-out, or each selected fold):
            train_one                   -> <split>/best.npz, thresholds.json   (hpa.training.split)
            [finetune_epochs > 0]       -> <split>/finetune/best.npz (dense head only)
            save the validation probabilities (val_probs.npz)
        once the validation probabilities of every fold exist:
            run-level report.txt over the out-of-fold predictions, and
            oof_thresholds.json: per-class thresholds tuned on all folds' out-of-fold
            probabilities, which ``hpa.predict`` uses for the folds' ensemble.

Each split's network is built once and gets its ``--init`` weights once
(:class:`hpa.training.network.SplitNetworks`); the first is built before any
data are read, so that a bad option or weight file fails in seconds.

Training (or resuming) one ``--fold`` therefore never overwrites the run-level
report with that fold's figures: the report waits until all K folds are done,
and is then written from all of them, whichever command finishes last.
"""
import dataclasses
import json
import os

import numpy as np

from hpa.data.cache.source import cached_images
from hpa.data.cache.union import union_of
from hpa.data.reading.labels import CLASS_NAMES
from hpa.evaluation.inference import OOF_THRESHOLDS
from hpa.evaluation.report import write_report
from hpa.evaluation.thresholds import save_thresholds, search_thresholds
from hpa.evaluation.training_plots import plot_training_curves
from hpa.runtime.interrupts import phase
from hpa.training import distributed
from hpa.training.network import SplitNetworks
from hpa.training.preflight import prepare_run
from hpa.training.split import splits, train_one
from minidl import load_arrays, save_arrays
from minidl.atomic import atomic_write_text
from minidl.distributed import SingleProcessGroup

VAL_PROBS = "val_probs.npz"


def save_config(out_dir, config):
    """The resolved configuration as ``config.json`` in ``out_dir``, atomically."""
    os.makedirs(out_dir, exist_ok=True)
    atomic_write_text(os.path.join(out_dir, "config.json"),
                      json.dumps(dataclasses.asdict(config), indent=2, sort_keys=True) + "\n")


def finetune_stage(config, cache, name, train_idx, val_idx, run_dir, log=print, group=SingleProcessGroup()):
    """Head-only fine-tuning from ``run_dir/best.npz`` into ``run_dir/finetune``."""
    stage = dataclasses.replace(config, init=os.path.join(run_dir, "best.npz"), freeze_features=True,
                                epochs=config.finetune_epochs, lr=config.finetune_lr, resume=None,
                                finetune_epochs=0).check()
    stage_dir = os.path.join(run_dir, "finetune")
    log(f"fine-tuning stage: dense head only, {stage.epochs} epochs at lr {stage.lr}")
    result = train_one(stage, cache, name, train_idx, val_idx, stage_dir, SplitNetworks(stage), log=log, group=group)
    if group.is_root:
        plot_training_curves(os.path.join(stage_dir, "metrics.csv"), os.path.join(stage_dir, "training_curves.png"))
    return result


def heading(config):
    return f"recipe: {config.recipe}\n" if config.recipe else ""


def resume_advice(run_dir):
    """What to do after training in ``run_dir`` was stopped, judged when it stops."""
    last = os.path.join(run_dir, "last.npz")
    return lambda: (f"the last checkpoint is intact; continue with --resume {last}" if os.path.isfile(last)
                    else "no checkpoint was saved yet; the same command starts the training again")


def run_training(config, group, networks):
    """The run of ``hpa.train`` after its configuration is parsed and its first network built."""
    networks.get_ready(group)  # unusable --init weights fail before any data is read
    out_dir = prepare_run(config, group)  # every path checked and the folder made before the long work
    print(f"output folder: {os.path.abspath(out_dir)}" + (f" (recipe {config.recipe})" if config.recipe else ""))
    if group.is_root:
        save_config(out_dir, config)

    def prepare_data():  # rank 0 first: it generates and caches, the others reuse
        from hpa.synthesis.cached import synthetic_data  # on demand: only a run without --data needs it
        with phase("generating the synthetic data", "nothing is kept; the same command generates it again"):
            sources = config.data or [synthetic_data(config.synthetic_n, config.synthetic_size, seed=0,
                                                     root=config.cache_dir)]
        with phase("caching the images", "finished chunks are kept; the same command resumes the build"):
            return sources, [cached_images(data, config.image_size, root=config.cache_dir, workers=config.workers,
                                           skip_bad=config.skip_bad, intensity=config.intensity)
                             for data in sources]

    sources, caches = distributed.root_first(group, prepare_data)
    for data, part in zip(sources, caches):
        print(f"data: {data} ({len(part)} samples, cached at {config.image_size} px in {part.path})")
    train_splits(config, union_of(caches, sources), out_dir, networks, group=group)
    print(f"saved checkpoints, thresholds, metrics.csv, report.txt and plots in {os.path.abspath(out_dir)}")
    return 0


def train_splits(config, cache, out_dir, networks=None, log=print, group=SingleProcessGroup()):
    """Train every selected split of ``config``; returns the run-level summary or None.

    ``networks``: a :class:`~hpa.training.network.SplitNetworks` of ``config`` (default: a new one).

    In a distributed run every rank trains; only rank 0 (``group.is_root``) writes plots and reports.
    """
    networks = networks or SplitNetworks(config)
    for name, train_idx, val_idx in splits(config, cache.labels):
        run_dir = os.path.join(out_dir, name) if name else out_dir
        if name:
            log(f"--- {name}: {len(train_idx)} training, {len(val_idx)} validation samples")
        with phase("training", resume_advice(run_dir)):
            probs, y_true = train_one(config, cache, name, train_idx, val_idx, run_dir, networks, log=log, group=group)
            if group.is_root:
                plot_training_curves(os.path.join(run_dir, "metrics.csv"), os.path.join(run_dir, "training_curves.png"))
            if config.finetune_epochs:
                probs, y_true = finetune_stage(config, cache, name, train_idx, val_idx, run_dir, log=log, group=group)
        if not group.is_root:
            continue
        save_arrays(os.path.join(run_dir, VAL_PROBS), {"val_idx": val_idx, "probs": probs})
        if name:
            write_report(run_dir, probs, y_true, log=log, heading=heading(config))
    if not group.is_root:
        return None
    if not config.folds:
        return write_report(out_dir, probs, y_true, log=log, heading=heading(config))
    return fold_report(config, cache.labels, out_dir, log=log)


def fold_report(config, labels, out_dir, log=print):
    """Run-level report and out-of-fold thresholds once all K folds have finished, else None."""
    done = [k for k in range(config.folds) if os.path.isfile(os.path.join(out_dir, f"fold{k}", VAL_PROBS))]
    if len(done) < config.folds:
        missing = ", ".join(str(k) for k in range(config.folds) if k not in done)
        log(f"{len(done)} of {config.folds} folds finished; the run-level report and out-of-fold "
            f"thresholds follow once fold(s) {missing} are trained")
        return None
    parts = [load_arrays(os.path.join(out_dir, f"fold{k}", VAL_PROBS)) for k in range(config.folds)]
    val_idx = np.concatenate([p["val_idx"] for p in parts])
    probs = np.concatenate([p["probs"] for p in parts])
    y_true = np.asarray(labels)[val_idx]
    thresholds = search_thresholds(probs, y_true, step=config.threshold_step)
    save_thresholds(os.path.join(out_dir, OOF_THRESHOLDS), thresholds, CLASS_NAMES)
    log(f"out-of-fold thresholds of {config.folds} folds ({len(val_idx)} samples) saved in {OOF_THRESHOLDS}")
    return write_report(out_dir, probs, y_true, log=log, heading=heading(config))

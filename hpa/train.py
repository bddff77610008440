"""Train any of the networks: ``python -m hpa.train --model NAME``.

Without ``--data`` the run uses the built-in synthetic HPA-like data set
(generated once into the cache folder). The output folder holds the best and
last checkpoints, ``metrics.csv``, ``thresholds.json``, ``report.txt`` and
plots; its path is printed at the start and at the end.

``python -m hpa.train_parallel_lenet`` and ``python -m hpa.train_gapnet`` are
this command with each model's defaults.
"""
import dataclasses
import datetime
import json
import os
import sys

import numpy as np

import minidl as md
from hpa import cli
from hpa.data.augment import default_augmentation
from hpa.data.labels import CLASS_NAMES
from hpa.data.loader import BatchLoader, channel_stats
from hpa.data.sampling import oversample_indices
from hpa.data.source import cached_images, synthetic_data
from hpa.data.splits import holdout_split, kfold_split
from hpa.errors import HpaError
from hpa.evaluation.inference import use_device
from hpa.evaluation.metrics import classification_report, macro_f1, precision_recall_f1
from hpa.evaluation.thresholds import f1_curve, predict, save_thresholds, search_thresholds
from hpa.evaluation.training_plots import plot_f1_vs_threshold, plot_per_class_f1, plot_training_curves
from hpa.models import MODELS, build_model
from hpa.models.checkpoint import load_checkpoint, save_checkpoint
from hpa.training.trainer import LOSSES, OPTIMIZERS, SCHEDULES, TrainConfig, Trainer, summarise
from minidl import StateDictError


def build_parser(model=None, description=None, **defaults):
    """The argument parser; ``model`` fixes the network (for the per-model commands)."""
    config = dataclasses.replace(TrainConfig(), **defaults)
    p = cli.ArgumentParser(prog=f"python -m hpa.train_{model}" if model else "python -m hpa.train",
                           description=description or __doc__)
    if model is None:
        p.add_argument("--model", required=True, choices=sorted(MODELS), help="network to train")
    data = p.add_argument_group("data")
    data.add_argument("--data", help="Kaggle-layout folder (train.csv + train/<Id>_<color>.png) or HPA "
                      "external-layout folder; default: the built-in synthetic data set")
    data.add_argument("--image-size", type=cli.positive_int, default=config.image_size,
                      help="side of the cached, area-resized images fed to the network")
    data.add_argument("--synthetic-n", type=cli.positive_int, default=2000, help="synthetic samples")
    data.add_argument("--synthetic-size", type=cli.positive_int, default=256, help="synthetic image side")
    data.add_argument("--cache-dir", help="folder for the synthetic data and image caches "
                      "(default: $HPA_CACHE or ~/.cache/hpa)")
    data.add_argument("--skip-bad", action="store_true",
                      help="leave out (and report) samples with missing or unreadable images")
    data.add_argument("--val-fraction", type=cli.fraction, default=0.1,
                      help="stratified hold-out fraction (at least 5 samples of every class)")
    data.add_argument("--folds", type=cli.positive_int, default=0,
                      help="K-fold training: one model per fold, out-of-fold evaluation (K >= 2)")
    data.add_argument("--fold", type=int, default=None, help="with --folds: train only this fold (0-based)")
    data.add_argument("--no-augment", dest="augment", action="store_false",
                      help="switch off flips, 90-degree rotations, brightness and contrast jitter")
    data.add_argument("--oversample", type=int, default=config.oversample,
                      help="repeat samples of rare classes until each class appears this often (0: off)")
    data.add_argument("--workers", type=int, default=None, help="processes for building the image cache")
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=cli.positive_int, default=config.epochs, help="passes over the training set")
    t.add_argument("--batch-size", type=cli.positive_int, default=config.batch_size, help="samples per step")
    t.add_argument("--lr", type=cli.positive_float, default=config.lr, help="learning rate")
    t.add_argument("--optimizer", choices=OPTIMIZERS, default=config.optimizer, help="update rule (PyTorch's)")
    t.add_argument("--weight-decay", type=float, default=config.weight_decay,
                   help="L2 penalty (decoupled for adamw)")
    t.add_argument("--momentum", type=float, default=config.momentum, help="SGD momentum (Nesterov)")
    t.add_argument("--schedule", choices=SCHEDULES, default=config.schedule,
                   help="learning-rate schedule (plateau: on validation macro F1)")
    t.add_argument("--step-size", type=cli.positive_int, default=config.step_size, help="StepLR period")
    t.add_argument("--gamma", type=cli.positive_float, default=config.gamma,
                   help="factor of the step and plateau schedules")
    t.add_argument("--plateau-patience", type=int, default=config.plateau_patience,
                   help="plateau schedule: epochs without improvement before the rate drops")
    t.add_argument("--loss", choices=LOSSES, default=config.loss,
                   help="sigmoid cross-entropy (plain or weighted), focal, or soft-F1")
    t.add_argument("--class-weight", choices=("none", "inv-log"), default=config.class_weight,
                   help="weighted-bce class weights: 1/log(N_i)")
    t.add_argument("--pos-weight", choices=("none", "ratio", "sqrt-ratio"), default=config.pos_weight,
                   help="weighted-bce positive weights: (N-N_i)/N_i or its square root")
    t.add_argument("--focal-gamma", type=float, default=config.focal_gamma, help="focal loss exponent")
    t.add_argument("--early-stopping", type=int, default=config.early_stopping,
                   help="stop after this many epochs without a better validation macro F1 (0: off)")
    t.add_argument("--clip-norm", type=float, default=config.clip_norm,
                   help="clip gradients to this global norm (0: off)")
    t.add_argument("--seed", type=int, default=config.seed,
                   help="seeds initialisation, split, batch order, augmentation and dropout")
    t.add_argument("--device", choices=("cpu", "gpu"), default="cpu", help="gpu needs CuPy")
    t.add_argument("--model-option", action="append", default=[], metavar="KEY=VALUE",
                   help="network constructor option, e.g. variant=pl (repeatable)")
    r = p.add_argument_group("output and resuming")
    r.add_argument("--out", help="output folder (default: runs/<model>-<time>)")
    r.add_argument("--resume", metavar="LAST_NPZ", help="continue an interrupted run from its last.npz")
    r.add_argument("--init", metavar="CHECKPOINT", help="start from these weights (fine-tuning)")
    r.add_argument("--freeze-features", action="store_true",
                   help="train only the dense head (use with --init)")
    return p


def _model_options(pairs):
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise HpaError(f"--model-option {pair!r}: expected KEY=VALUE")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def _config(args, model):
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    values = {k: v for k, v in vars(args).items() if k in fields}
    values.update(model=model, model_options=_model_options(args.model_option))
    return TrainConfig(**values).check()


def _out_dir(args, model):
    if args.out:
        return args.out
    if args.resume:  # the run's folder, above the fold's folder in K-fold runs
        run_dir = os.path.dirname(os.path.abspath(args.resume))
        return os.path.dirname(run_dir) if args.folds else run_dir
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return os.path.join("runs", f"{model}-{stamp}")


def _splits(args, labels):
    """[(name, train_idx, val_idx)]: one hold-out, or the selected K folds."""
    if not args.folds:
        train_idx, val_idx = holdout_split(labels, fraction=args.val_fraction, min_per_class=5, seed=args.seed)
        return [("", train_idx, val_idx)]
    folds = kfold_split(labels, k=args.folds, seed=args.seed)
    chosen = range(args.folds) if args.fold is None else [args.fold]
    return [(f"fold{k}", *folds[k]) for k in chosen]


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

    Thresholds tuned and scored on the same samples always beat "always yes"
    (threshold 0 is on the grid), so that score cannot show whether a model
    learned anything. Here each half's predictions come from thresholds tuned
    on the other half, and the two halves' predictions are scored together.
    """
    order = np.random.default_rng(seed).permutation(len(y_true))
    halves = np.array_split(order, 2)
    y_pred = np.zeros_like(y_true)
    for tune, score in (halves, halves[::-1]):
        y_pred[score] = predict(probs[score], search_thresholds(probs[tune], y_true[tune]))
    return macro_f1(y_true, y_pred)


def _load_init(model, path, model_name):
    state, meta, _ = load_checkpoint(path)
    if meta.get("model") != model_name:
        raise HpaError(f"--init {path}: checkpoint is for model {meta.get('model')!r}, not {model_name!r}")
    try:
        model.load_state_dict(state)
    except StateDictError as error:
        raise HpaError(f"--init {path}: {error}") from None


def train_one(args, config, cache, name, train_idx, val_idx, out_dir, log=print):
    """Train one model on one split; returns (validation probabilities, validation labels)."""
    labels = cache.labels
    md.manual_seed(config.seed)
    mean, std = channel_stats(cache.images, train_idx, seed=config.seed)
    fit_idx = oversample_indices(labels, train_idx, min_count=config.oversample, seed=config.seed) \
        if config.oversample > 0 else train_idx
    train_loader = BatchLoader(cache.images, labels, fit_idx, batch_size=config.batch_size, shuffle=True,
                               seed=config.seed, mean=mean, std=std,
                               augment=default_augmentation() if config.augment else None,
                               drop_last=len(fit_idx) > config.batch_size)
    val_loader = BatchLoader(cache.images, labels, val_idx, batch_size=64, shuffle=False, mean=mean, std=std)
    model = build_model(config.model, image_size=config.image_size, **config.model_options)
    model.to(args.device)
    if args.init:
        _load_init(model, args.init, config.model)
    meta = {"model": config.model, "model_options": config.model_options, "image_size": config.image_size,
            "mean": mean.tolist(), "std": std.tolist(), "class_names": list(CLASS_NAMES),
            "config": dataclasses.asdict(config), "split": name or "holdout"}
    trainer = Trainer(model, config, train_loader, val_loader, labels[val_idx], labels[fit_idx],
                      out_dir, meta, device=args.device)
    if args.resume:
        epoch = trainer.resume(args.resume)
        log(f"resuming from {args.resume} at epoch {epoch + 1}")
    n_params = sum(p.data.size for p in model.parameters())
    log(f"{config.model}: {n_params:,} parameters; {len(fit_idx)} training samples "
        f"({len(train_idx)} before oversampling), {len(val_idx)} validation samples, "
        f"{config.image_size} px")
    trainer.fit(log=log)

    # The best epoch's weights decide the thresholds and the final report.
    best = os.path.join(out_dir, "best.npz")
    state, meta, train_state = load_checkpoint(best)
    model.load_state_dict(state)
    _, probs = trainer.validate()
    thresholds = search_thresholds(probs, labels[val_idx])
    meta["thresholds"] = thresholds.tolist()
    save_checkpoint(best, model, meta, train_state)
    save_thresholds(os.path.join(out_dir, "thresholds.json"), thresholds, CLASS_NAMES)
    return probs, labels[val_idx]


def write_report(out_dir, probs, y_true, log=print):
    """Metrics at 0.5, at cross-fitted and at tuned thresholds, the constant baseline, plots."""
    thresholds = search_thresholds(probs, y_true)
    at_half = summarise(probs, y_true)
    tuned_pred = predict(probs, thresholds)
    tuned = macro_f1(y_true, tuned_pred)
    crossed = cross_fitted_f1(probs, y_true)
    baseline = constant_baseline_f1(y_true)
    report = classification_report(y_true, tuned_pred)
    text = (f"validation samples: {len(y_true)}\n"
            f"macro F1 at threshold 0.5:           {at_half['macro_f1']:.4f}\n"
            f"macro F1, cross-fitted thresholds:   {crossed:.4f} (tuned on one half, scored on the other)\n"
            f"macro F1 at per-class thresholds:    {tuned:.4f} (tuned on this validation set: optimistic)\n"
            f"best constant predictor macro F1:    {baseline:.4f}\n\n"
            f"per class, at the per-class thresholds:\n{report}\n")
    with open(os.path.join(out_dir, "report.txt"), "w") as f:
        f.write(text)
    _, _, f1, support = precision_recall_f1(y_true, tuned_pred)
    plot_per_class_f1(f1, support, os.path.join(out_dir, "per_class_f1.png"),
                      title=f"per-class F1 at tuned thresholds (macro {tuned:.3f})")
    grid, curve = f1_curve(probs, y_true)
    plot_f1_vs_threshold(grid, curve, thresholds, os.path.join(out_dir, "f1_vs_threshold.png"))
    log(f"validation macro F1: {at_half['macro_f1']:.4f} at threshold 0.5, {crossed:.4f} with cross-fitted "
        f"per-class thresholds ({tuned:.4f} tuned on all of validation); a constant predictor scores "
        f"{baseline:.4f}")
    return {"macro_f1_0.5": at_half["macro_f1"], "macro_f1_cross_fitted": crossed, "macro_f1_tuned": tuned,
            "constant_baseline": baseline, "validation_samples": int(len(y_true))}


def _check_options(args):
    """Refuse impossible option combinations before any data is touched."""
    if args.folds == 1:
        raise HpaError("--folds 1: K-fold training needs K >= 2")
    if args.fold is not None and not args.folds:
        raise HpaError("--fold needs --folds")
    if args.fold is not None and not 0 <= args.fold < args.folds:
        raise HpaError(f"--fold {args.fold}: must be between 0 and {args.folds - 1}")
    if args.freeze_features and not args.init and not args.resume:
        raise HpaError("--freeze-features needs --init CHECKPOINT (weights to fine-tune)")
    if args.resume and args.folds and args.fold is None:
        raise HpaError("--resume continues one run: with --folds give the --fold it belongs to")
    for option, path in (("--resume", args.resume), ("--init", args.init)):
        if path and not os.path.isfile(path):
            raise HpaError(f"{option} {path}: checkpoint does not exist")
    if args.data and not os.path.exists(args.data):
        raise HpaError(f"--data {args.data}: no such file or folder")


def main(argv=None, model=None, description=None, **defaults):
    args = build_parser(model, description, **defaults).parse_args(argv)
    model = model or args.model
    config = _config(args, model)
    _check_options(args)
    use_device(args.device)
    build_model(config.model, image_size=config.image_size, **config.model_options)  # bad options fail now
    out_dir = _out_dir(args, model)
    print(f"output folder: {os.path.abspath(out_dir)}")

    data = args.data or synthetic_data(args.synthetic_n, args.synthetic_size, seed=0, root=args.cache_dir)
    cache = cached_images(data, config.image_size, root=args.cache_dir, workers=args.workers,
                          skip_bad=args.skip_bad)
    print(f"data: {data} ({len(cache)} samples, cached at {config.image_size} px in {cache.path})")

    results = []
    for name, train_idx, val_idx in _splits(args, cache.labels):
        run_dir = os.path.join(out_dir, name) if name else out_dir
        if name:
            print(f"--- {name}: {len(train_idx)} training, {len(val_idx)} validation samples")
        results.append(train_one(args, config, cache, name, train_idx, val_idx, run_dir))
        plot_training_curves(os.path.join(run_dir, "metrics.csv"), os.path.join(run_dir, "training_curves.png"))
        if name:
            write_report(run_dir, *results[-1])

    # Out-of-fold predictions of all folds together, or the single hold-out.
    probs = np.concatenate([r[0] for r in results])
    y_true = np.concatenate([r[1] for r in results])
    summary = write_report(out_dir, probs, y_true)
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(f"saved checkpoints, thresholds, metrics.csv, report.txt and plots in {os.path.abspath(out_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))

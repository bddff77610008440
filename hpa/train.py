"""Train any of the networks: ``python -m hpa.train --model NAME``.

Without ``--data`` the run uses the built-in synthetic HPA-like data set
(generated once into the cache folder). The output folder holds the best and
last checkpoints, ``metrics.csv``, ``thresholds.json``, ``report.txt`` and
plots; its path is printed at the start and at the end.

Input size, batch size, epochs, optimizer and learning rate default to the
network's own (its paper's, as the model registry records them);
``python -m hpa.train --model NAME --help`` shows them.
``python -m hpa.train_parallel_lenet`` and ``python -m hpa.train_gapnet`` are
this command with the model chosen.
"""
import dataclasses
import json
import os
import sys

import numpy as np

from hpa import cli
from hpa.data.source import cached_images, synthetic_data
from hpa.errors import HpaError
from hpa.evaluation.inference import use_device
from hpa.evaluation.report import write_report
from hpa.evaluation.training_plots import plot_training_curves
from hpa.interrupts import phase
from hpa.models import MODELS, build_model
from hpa.training import distributed
from hpa.training.config import LOSSES, OPTIMIZERS, SCHEDULES, TrainConfig
from hpa.training.fine_tuning import NORMALIZATIONS
from hpa.training.preflight import prepare_run
from hpa.training.run import load_init, splits, train_one


def build_parser(model=None, fixed=False, description=None):
    """The argument parser; its defaults are ``model``'s (``fixed``: the command trains only it)."""
    config = TrainConfig.for_model(model) if model else TrainConfig()
    prog = f"python -m hpa.train_{model}" if fixed else "python -m hpa.train"
    p = cli.ArgumentParser(prog=prog, description=description or __doc__)
    if not fixed:
        p.add_argument("--model", required=True, choices=sorted(MODELS),
                       help="network to train; its own defaults apply (see --model NAME --help)")
    data = p.add_argument_group("data")
    data.add_argument("--data", help="Kaggle-layout folder (train.csv + train/<Id>_<color>.png) or HPA "
                      "external-layout folder; default: the built-in synthetic data set")
    data.add_argument("--image-size", type=cli.positive_int, default=config.image_size,
                      help="side of the cached, area-resized images fed to the network")
    data.add_argument("--synthetic-n", type=cli.positive_int, default=config.synthetic_n, help="synthetic samples")
    data.add_argument("--synthetic-size", type=cli.positive_int, default=config.synthetic_size,
                      help="synthetic image side")
    data.add_argument("--cache-dir", help="folder for the synthetic data and image caches "
                      "(default: $HPA_CACHE or ~/.cache/hpa)")
    data.add_argument("--skip-bad", action="store_true",
                      help="leave out (and report) samples with missing or unreadable images")
    data.add_argument("--val-fraction", type=cli.fraction, default=config.val_fraction,
                      help="stratified hold-out fraction (at least 5 samples of every class)")
    data.add_argument("--folds", type=int, default=config.folds,
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
    t.add_argument("--device", choices=("cpu", "gpu"), default=config.device, help="gpu needs CuPy")
    distributed.add_arguments(t)
    t.add_argument("--model-option", action="append", default=[], metavar="KEY=VALUE",
                   help="network constructor option, e.g. variant=pl (repeatable)")
    r = p.add_argument_group("output and resuming")
    r.add_argument("--out", help="output folder (default: runs/<model>-<time>)")
    r.add_argument("--resume", metavar="LAST_NPZ", help="continue an interrupted run from its last.npz")
    r.add_argument("--checkpoint-every", type=float, default=config.checkpoint_every, metavar="MINUTES",
                   help="also save last.npz within an epoch this often, so --resume continues from "
                        "that batch (0: after every batch)")
    r.add_argument("--init", metavar="CHECKPOINT", help="start from these weights (fine-tuning); "
                   "imagenet:FILE for ImageNet weights imported with python -m hpa.import_weights")
    r.add_argument("--freeze-features", action="store_true",
                   help="train only the dense head (use with --init)")
    _add_fine_tuning_options(p, config)
    return p


def _add_fine_tuning_options(p, config):
    f = p.add_argument_group("fine-tuning pretrained weights")
    f.add_argument("--head-epochs", type=int, default=config.head_epochs,
                   help="first train only the new head for this many epochs, then the whole network")
    f.add_argument("--finetune-lr", type=cli.positive_float, default=None,
                   help="learning rate of the whole network after the head-only epochs (default: --lr / 10)")
    f.add_argument("--backbone-lr", type=cli.positive_float, default=None,
                   help="the features' own learning rate in that stage (default: --finetune-lr)")
    f.add_argument("--normalize", choices=NORMALIZATIONS, default=config.normalize,
                   help="dataset: each stain's own statistics; imagenet: ImageNet's for red, green, blue")


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


def _chosen_model(argv):
    """The ``--model`` of ``argv`` (or None) before the full parser is built with its defaults."""
    pre = cli.ArgumentParser(add_help=False)
    pre.add_argument("--model", choices=sorted(MODELS))
    known, _ = pre.parse_known_args(argv)
    return known.model


def parse_config(argv=None, model=None, description=None):
    """The checked ``TrainConfig`` of a command line; ``model`` fixes the network."""
    fixed = model is not None
    model = model or _chosen_model(argv)
    args = build_parser(model, fixed, description).parse_args(argv)
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    values = {k: v for k, v in vars(args).items() if k in fields}
    values.update(model=model, model_options=_model_options(args.model_option))
    return TrainConfig(**values).check()


def resume_advice(run_dir):
    """What to do after training in ``run_dir`` was stopped, judged when it stops."""
    last = os.path.join(run_dir, "last.npz")
    return lambda: (f"the last checkpoint is intact; continue with --resume {last}" if os.path.isfile(last)
                    else "no checkpoint was saved yet; the same command starts the training again")


def main(argv=None, model=None, description=None):
    config = parse_config(argv, model, description)
    use_device(config.device)
    model = build_model(config.model, image_size=config.image_size, **config.model_options)  # bad options fail now
    group = distributed.start(config)
    with distributed.failing_rank_ends_job(group):
        return _run(config, group, model)


def _run(config, group, model):
    if config.init:
        load_init(model, config.init, config.model)  # unusable --init weights fail before any data is read
    out_dir = prepare_run(config)  # every path checked and the folder made before the long work
    print(f"output folder: {os.path.abspath(out_dir)}")

    def prepare_data():  # rank 0 first: it generates and caches, the others reuse
        with phase("generating the synthetic data", "nothing is kept; the same command generates it again"):
            data = config.data or synthetic_data(config.synthetic_n, config.synthetic_size, seed=0,
                                                 root=config.cache_dir)
        with phase("caching the images", "finished chunks are kept; the same command resumes the build"):
            return data, cached_images(data, config.image_size, root=config.cache_dir, workers=config.workers,
                                       skip_bad=config.skip_bad)

    data, cache = distributed.root_first(group, prepare_data)
    print(f"data: {data} ({len(cache)} samples, cached at {config.image_size} px in {cache.path})")

    results = []
    for name, train_idx, val_idx in splits(config, cache.labels):
        run_dir = os.path.join(out_dir, name) if name else out_dir
        if name:
            print(f"--- {name}: {len(train_idx)} training, {len(val_idx)} validation samples")
        with phase("training", resume_advice(run_dir)):
            results.append(train_one(config, cache, name, train_idx, val_idx, run_dir, group=group))
        if not group.is_root:
            continue
        plot_training_curves(os.path.join(run_dir, "metrics.csv"), os.path.join(run_dir, "training_curves.png"))
        if name:
            write_report(run_dir, *results[-1])

    if not group.is_root:
        return 0
    # Out-of-fold predictions of all folds together, or the single hold-out.
    probs = np.concatenate([r[0] for r in results])
    y_true = np.concatenate([r[1] for r in results])
    write_report(out_dir, probs, y_true)
    print(f"saved checkpoints, thresholds, metrics.csv, report.txt and plots in {os.path.abspath(out_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))

"""Train any of the networks: ``python -m hpa.train --model NAME``.

Without ``--data`` the run uses the built-in synthetic HPA-like data set
(generated once into the cache folder). The output folder holds the best and
last checkpoints, ``metrics.csv``, ``thresholds.json``, ``report.txt`` and
plots; its path is printed at the start and at the end. It is never another
run's: an ``--out`` that holds files is refused unless the run resumes from it,
adds a fold to its K-fold run, or ``--overwrite`` is given
(:mod:`hpa.training.run_folder`).

Input size, batch size, epochs, optimizer and learning rate default to the
network's own (its paper's, as the model registry records them);
``python -m hpa.train --model NAME --help`` shows them.
``python -m hpa.train_parallel_lenet`` and ``python -m hpa.train_gapnet`` are
this command with the model chosen.

``--recipe NAME`` sets everything a paper describes (``--recipe list`` names
them, see :mod:`hpa.training.recipes`); options given explicitly override it,
because the recipe's values become the parser's defaults. Every run folder
keeps the resolved configuration as ``config.json``.
"""
import dataclasses
import json
import sys

from hpa.data.augmentation.names import augment_help
from hpa.models import MODELS
from hpa.runtime import cli
from hpa.runtime.device import use_device
from hpa.runtime.errors import HpaError
from hpa.training import distributed, recipes
from hpa.training.config import EARLY_STOPPING_ON, LOSSES, OPTIMIZERS, SCHEDULES, TrainConfig
from hpa.training.fine_tuning import NORMALIZATIONS
from hpa.training.network import SplitNetworks
from hpa.training.pipeline import run_training
from minidl import host_memory


def build_parser(model=None, fixed=False, description=None, config=None):
    """The argument parser; its defaults are ``config``'s, else ``model``'s (``fixed``: the command
    trains only it)."""
    config = config or (TrainConfig.for_model(model) if model else TrainConfig())
    prog = f"python -m hpa.train_{model}" if fixed else "python -m hpa.train"
    p = cli.ArgumentParser(prog=prog, description=description or __doc__)
    p.add_argument("--recipe", help="a paper's whole setup by name ('list': show them); "
                   "explicit options override it")
    if not fixed:
        p.add_argument("--model", choices=sorted(MODELS), default=config.model if config.recipe else None,
                       help="network to train; its own defaults apply (see --model NAME --help); "
                       "required unless --recipe names it")
    data = p.add_argument_group("data")
    data.add_argument("--data", action="append", default=None,
                      help="Kaggle-layout folder (train.csv + train/<Id>_<color>.png) or HPA "
                      "external-layout folder; repeat it to train on the union of several (e.g. Kaggle "
                      "train/ and HPAv18), each with its own cache and normalisation statistics; "
                      "default: the built-in synthetic data set")
    data.add_argument("--image-size", type=cli.positive_int, default=config.image_size,
                      help="side of the cached, area-resized images fed to the network")
    data.add_argument("--stains", default=config.stains, metavar="NAMES",
                      help="the stains the network reads, comma-separated, e.g. red,green,blue "
                      "(ImageNet's RGB); default: red,green,blue,yellow")
    data.add_argument("--synthetic-n", type=cli.positive_int, default=config.synthetic_n, help="synthetic samples")
    data.add_argument("--synthetic-size", type=cli.positive_int, default=config.synthetic_size,
                      help="synthetic image side")
    data.add_argument("--cache-dir", help="folder for the synthetic data and image caches "
                      "(default: $HPA_CACHE or ~/.cache/hpa)")
    data.add_argument("--intensity", default=config.intensity,
                      help="16-bit originals to 8 bits: 'fixed' divides by 257; 'max' stretches each file "
                      "to its own maximum; 'percentile' or 'percentile:P' stretches its P-th percentile "
                      "(default 99.9) to 255 and clips above (8-bit files are used as they are)")
    data.add_argument("--skip-bad", action="store_true",
                      help="leave out (and report) samples with missing or unreadable images")
    data.add_argument("--val-fraction", type=cli.fraction, default=config.val_fraction,
                      help="stratified hold-out fraction (at least 5 samples of every class)")
    data.add_argument("--folds", type=int, default=config.folds,
                      help="K-fold training: one model per fold, out-of-fold evaluation (K >= 2)")
    data.add_argument("--fold", type=int, default=None, help="with --folds: train only this fold (0-based)")
    data.add_argument("--augment", default=config.augment, metavar="NAMES",
                      help="comma-separated augmentations of every training batch, in this order: "
                      + augment_help())
    data.add_argument("--no-augment", dest="augment", action="store_const", const="",
                      help="no augmentation of the training batches")
    data.add_argument("--oversample", type=int, default=config.oversample,
                      help="repeat samples of rare classes until each class appears this often (0: off)")
    data.add_argument("--oversample-augment", default=config.oversample_augment, metavar="NAMES",
                      help="each oversampled copy gets one of these augmentations (names as for --augment)")
    data.add_argument("--workers", type=int, default=None, help="processes for building the image cache")
    data.add_argument("--loader-workers", type=int, default=config.loader_workers, metavar="N",
                      help="threads building the training batches (0: in the training thread); batches do "
                      "not depend on N; default: one per core this process may use")
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
    t.add_argument("--pos-weight-cap", type=float, default=config.pos_weight_cap,
                   help="largest positive weight (the rarest classes' ratios are cut to it)")
    t.add_argument("--threshold-step", type=cli.positive_float, default=config.threshold_step,
                   help="grid step of the per-class threshold search on validation")
    t.add_argument("--finetune-epochs", type=int, default=config.finetune_epochs,
                   help="then fine-tune the dense head alone from the best weights for this many epochs")
    t.add_argument("--finetune-lr", type=cli.positive_float, default=config.finetune_lr,
                   help="learning rate of the fine-tuning stage")
    t.add_argument("--focal-gamma", type=float, default=config.focal_gamma, help="focal loss exponent")
    t.add_argument("--early-stopping", type=int, default=config.early_stopping,
                   help="stop after this many epochs without a better validation figure (0: off)")
    t.add_argument("--early-stopping-on", choices=EARLY_STOPPING_ON, default=config.early_stopping_on,
                   help="the figure that must improve (and picks best.npz): macro F1 or validation loss")
    t.add_argument("--clip-norm", type=float, default=config.clip_norm,
                   help="clip gradients to this global norm (0: off)")
    t.add_argument("--seed", type=int, default=config.seed,
                   help="seeds initialisation, split, batch order, augmentation and dropout")
    t.add_argument("--device", choices=("cpu", "gpu"), default=config.device, help="gpu needs CuPy")
    t.add_argument("--tf32", action="store_true", default=config.tf32,
                   help="on the GPU, run float32 matrix products on TF32 tensor cores: 1.2-1.5x faster "
                        "steps, products to ~1e-3 relative instead of ~1e-7 (as PyTorch's cuDNN default)")
    distributed.add_arguments(t)
    t.add_argument("--model-option", action="append", default=[], metavar="KEY=VALUE",
                   help="network constructor option, e.g. variant=pl (repeatable)")
    r = p.add_argument_group("output and resuming")
    r.add_argument("--out", help="output folder (default: a new runs/<model>-<time>); one that holds files "
                   "is refused unless the run resumes from it or adds a fold to its K-fold run")
    r.add_argument("--overwrite", action="store_true",
                   help="write into --out even if it holds files (another run's are replaced)")
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
    f.add_argument("--unfrozen-lr", type=cli.positive_float, default=None,
                   help="learning rate of the whole network after the head-only epochs (default: --lr / 10)")
    f.add_argument("--backbone-lr", type=cli.positive_float, default=None,
                   help="the features' own learning rate in that stage (default: --unfrozen-lr)")
    f.add_argument("--normalize", choices=NORMALIZATIONS, default=config.normalize,
                   help="dataset: each stain's own statistics; imagenet: ImageNet's for red, green, blue "
                   "(torchvision's); inception: mean 0.5, std 0.5 for them (timm's Inception networks)")


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


def _chosen(argv):
    """The ``--model`` and ``--recipe`` of ``argv`` (or None) before the full parser is built."""
    pre = cli.ArgumentParser(add_help=False)
    pre.add_argument("--model", choices=sorted(MODELS))
    pre.add_argument("--recipe")
    known, _ = pre.parse_known_args(argv)
    return known.model, known.recipe


def parse_config(argv=None, model=None, description=None):
    """The checked ``TrainConfig`` of a command line; ``model`` fixes the network.

    With ``--recipe`` the recipe's values are the parser's defaults, so exactly
    the options given on the command line override it; ``--model-option``
    pairs are added to the recipe's network options.
    """
    fixed = model is not None
    chosen, recipe = _chosen(argv)
    base = recipes.resolve(recipe, model or chosen) if recipe else None
    model = model or chosen or (base.model if base else None)
    parser = build_parser(model, fixed, description, base)
    args = parser.parse_args(argv)
    if model is None:
        parser.error("one of --model or --recipe is required")
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    values = {k: v for k, v in vars(args).items() if k in fields}
    options = {**(base.model_options if base else {}), **_model_options(args.model_option)}
    values.update(model=model, model_options=options, recipe=recipe)
    return TrainConfig(**values).check()


def main(argv=None, model=None, description=None):
    if _chosen(argv)[1] == "list":
        print(recipes.recipe_list())
        return 0
    config = parse_config(argv, model, description)
    host_memory.keep_freed_memory()  # minidl's fast CPU path: a step reuses the last one's memory
    use_device(config.device)
    networks = SplitNetworks(config)  # the first split's network: bad options fail now
    group = distributed.start(config)
    with distributed.failing_rank_ends_job(group):
        return run_training(config, group, networks)


if __name__ == "__main__":
    sys.exit(cli.run(main))

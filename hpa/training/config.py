"""``TrainConfig``: every choice of a training run in one object, checked in one place.

The command line fills it (``hpa.train``), a test or a notebook builds it
directly; the training code reads nothing else. Values a network's paper
fixes (input size, batch size, epochs, optimizer, learning rate) default to
that network's registry entry (:data:`hpa.models.MODELS`), so
``TrainConfig.for_model("gapnet")`` trains GapNet as its paper did unless a
value is given. ``check()`` refuses every impossible value with the option's
name before any data is read, and each checkpoint stores the whole
configuration.
"""
import dataclasses
import os

from hpa.data.augmentation.names import augment_names
from hpa.data.reading.imageio import parse_intensity
from hpa.evaluation.thresholds import threshold_grid
from hpa.models import MODELS
from hpa.models.stains import parse_stains
from hpa.runtime.errors import HpaError
from hpa.training.fine_tuning import check_fine_tuning, init_path

LOSSES = ("bce", "weighted-bce", "focal", "soft-f1")
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("none", "step", "cosine", "plateau")
CLASS_WEIGHTS = ("none", "inv-log")
POS_WEIGHTS = ("none", "ratio", "sqrt-ratio")
DEVICES = ("cpu", "gpu")
EARLY_STOPPING_ON = ("macro-f1", "val-loss")
# Fields whose default is the network's own (its registry entry's training defaults).
PER_MODEL = ("image_size", "batch_size", "epochs", "optimizer", "lr")


@dataclasses.dataclass
class TrainConfig:
    # the network
    model: str = "parallel_lenet"
    model_options: dict = dataclasses.field(default_factory=dict)
    image_size: int = 128
    stains: str = None              # e.g. "red,green,blue": the stains the network reads; None: all four
    # the data
    data: list = None               # folders (several: their union); None: the built-in synthetic set
    synthetic_n: int = 2000
    synthetic_size: int = 256
    cache_dir: str = None           # None: $HPA_CACHE or ~/.cache/hpa
    workers: int = None             # cache-building processes; None: one per core
    loader_workers: int = None      # batch-building threads; None: one per core this process may use
    skip_bad: bool = False
    intensity: str = "fixed"        # 16-bit originals: fixed /257, max or percentile[:P] stretch
    val_fraction: float = 0.1
    folds: int = 0                  # K-fold training when >= 2
    fold: int = None                # with folds: only this fold
    augment: str = "dihedral,brightness,contrast"   # names of hpa.data.augmentation.names; "": none
    oversample: int = 0
    oversample_augment: str = ""    # each oversampled copy gets one of these
    # the optimisation
    epochs: int = 8
    batch_size: int = 32
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    momentum: float = 0.9
    schedule: str = "plateau"
    step_size: int = 5
    gamma: float = 0.5
    plateau_patience: int = 2
    loss: str = "weighted-bce"
    class_weight: str = "none"
    pos_weight: str = "sqrt-ratio"
    focal_gamma: float = 2.0
    pos_weight_cap: float = 100.0   # largest positive weight of weighted-bce
    threshold_step: float = 0.005   # grid of the per-class threshold search
    finetune_epochs: int = 0        # then a head-only stage from the best weights (0: none)
    finetune_lr: float = 1e-4
    recipe: str = None              # the hpa.training.recipes entry the values came from
    early_stopping: int = 5
    early_stopping_on: str = "macro-f1"   # or "val-loss": which validation figure must improve
    clip_norm: float = 5.0
    seed: int = 0
    # the run
    device: str = "cpu"
    tf32: bool = False              # GPU: float32 products on TF32 tensor cores (minidl.backend.allow_tf32)
    out: str = None                 # None: a new runs/<model>-<time>
    overwrite: bool = False         # write into an --out that holds files (hpa.training.run_folder)
    resume: str = None              # last.npz of an interrupted run
    checkpoint_every: float = 10.0  # minutes between mid-epoch checkpoints; 0: every batch
    init: str = None                # weights to start from; "imagenet:FILE" for hpa.import_weights output
    freeze_features: bool = False
    distributed: bool = False       # data-parallel over the ranks of mpiexec (hpa.training.distributed)
    sync_batchnorm: bool = True     # with distributed: batch statistics of the global batch
    # fine-tuning pretrained weights (hpa.training.fine_tuning)
    head_epochs: int = 0            # first train only the head for this many epochs
    unfrozen_lr: float = None       # then everything at this rate (None: lr / 10)
    backbone_lr: float = None       # the features' own rate in the second stage (None: unfrozen_lr)
    normalize: str = "dataset"      # "imagenet": ImageNet statistics for the red, green and blue stains

    @classmethod
    def for_model(cls, model, **values):
        """The configuration of ``model`` with its registry defaults, then ``values``."""
        if model not in MODELS:
            raise HpaError(f"unknown model {model!r}: choose one of {', '.join(MODELS)}")
        return cls(model=model, **{**model_defaults(model), **values})

    def check(self):
        """Raise ``HpaError`` naming the option of the first impossible value; returns self."""
        _choose("model", self.model, tuple(MODELS))
        _choose("early-stopping-on", self.early_stopping_on, EARLY_STOPPING_ON)
        parse_stains(self.stains)
        for name, value, choices in (("loss", self.loss, LOSSES), ("optimizer", self.optimizer, OPTIMIZERS),
                                     ("schedule", self.schedule, SCHEDULES), ("device", self.device, DEVICES),
                                     ("class-weight", self.class_weight, CLASS_WEIGHTS),
                                     ("pos-weight", self.pos_weight, POS_WEIGHTS)):
            _choose(name, value, choices)
        for name in ("epochs", "batch_size", "image_size", "step_size", "synthetic_n", "synthetic_size"):
            _at_least(name, getattr(self, name), 1)
        for name in ("weight_decay", "focal_gamma", "clip_norm", "early_stopping", "plateau_patience",
                     "oversample", "finetune_epochs"):
            _at_least(name, getattr(self, name), 0)
        if not self.checkpoint_every >= 0:
            raise HpaError(f"--checkpoint-every must be at least 0 minutes, got {self.checkpoint_every}")
        if self.workers is not None:
            _at_least("workers", self.workers, 1)
        if self.loader_workers is not None:
            _at_least("loader_workers", self.loader_workers, 0)
        for name in ("lr", "finetune_lr"):
            if not getattr(self, name) > 0:
                raise HpaError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if not self.pos_weight_cap >= 1:
            raise HpaError(f"--pos-weight-cap must be at least 1, got {self.pos_weight_cap}")
        threshold_grid(self.threshold_step, "--threshold-step")
        parse_intensity(self.intensity)
        augment_names(self.augment)
        augment_names(self.oversample_augment)
        if self.tf32 and self.device != "gpu":
            raise HpaError("--tf32 needs --device gpu (TF32 is a mode of the GPU's tensor cores)")
        if not 0 <= self.momentum < 1:
            raise HpaError(f"--momentum must be in [0, 1), got {self.momentum}")
        if not 0 < self.gamma < 1 and self.schedule == "plateau":
            raise HpaError(f"--gamma must be in (0, 1) for the plateau schedule, got {self.gamma}")
        if not self.gamma > 0:
            raise HpaError(f"--gamma must be positive, got {self.gamma}")
        if not 0 < self.val_fraction < 1:
            raise HpaError(f"--val-fraction must be between 0 and 1, got {self.val_fraction}")
        self._check_folds()
        check_fine_tuning(self)
        self._check_paths()
        return self

    def _check_folds(self):
        if self.folds == 1 or self.folds < 0:
            raise HpaError(f"--folds {self.folds}: K-fold training needs K >= 2")
        if self.fold is not None and not self.folds:
            raise HpaError("--fold needs --folds")
        if self.fold is not None and not 0 <= self.fold < self.folds:
            raise HpaError(f"--fold {self.fold}: must be between 0 and {self.folds - 1}")
        if self.resume and self.folds and self.fold is None:
            raise HpaError("--resume continues one run: with --folds give the --fold it belongs to")
        if self.distributed and (self.oversample_augment or len(self.data or ()) > 1):
            raise HpaError("--distributed: several --data folders and --oversample-augment work in a single "
                           "process only, for now")

    def _check_paths(self):
        if self.freeze_features and not self.init and not self.resume:
            raise HpaError("--freeze-features needs --init CHECKPOINT (weights to fine-tune)")
        for option, path in (("--resume", self.resume), ("--init", init_path(self.init)[0])):
            if path and not os.path.isfile(path):
                raise HpaError(f"{option} {path}: checkpoint does not exist")
        if isinstance(self.data, (str, os.PathLike)):  # one folder given as such
            self.data = [self.data]
        for folder in self.data or ():
            if not os.path.exists(folder):
                raise HpaError(f"--data {folder}: no such file or folder")
        if self.data and len(set(map(os.path.abspath, map(os.fspath, self.data)))) < len(self.data):
            raise HpaError("--data: the same folder is given twice")


def model_defaults(model):
    """The registry entry's training defaults of ``model``, by ``TrainConfig`` field."""
    return dict(MODELS[model].defaults)


def _choose(name, value, choices):
    if value not in choices:
        raise HpaError(f"--{name} {value!r}: choose one of {', '.join(choices)}")


def _at_least(name, value, low):
    if not isinstance(value, (int, float)) or value < low:
        raise HpaError(f"--{name.replace('_', '-')} must be at least {low}, got {value!r}")

"""The training loop shared by every network.

One epoch:

    for x, y in loader:                   # augmented, normalised float32 batches
        logits = model(x)                 # (B, 28)
        loss = criterion(logits, y)
        model.zero_grad()
        model.backward(criterion.backward())
        clip_grad_norm_(params, clip)     # optional
        optimizer.step()

then a validation pass (macro F1 at threshold 0.5 decides early stopping and
the best checkpoint), a schedule step, one row appended to ``metrics.csv``,
and the ``last`` checkpoint rewritten atomically. Order of batches and of
augmentations depends only on (seed, epoch), and the checkpoint stores the
optimizer, schedule, early-stopping and random state, so ``--resume``
continues an interrupted run exactly where its last completed epoch ended.
"""
import csv
import dataclasses
import os
import time

import numpy as np
from tqdm import tqdm

import minidl as md
from hpa.errors import HpaError
from hpa.evaluation.metrics import macro_f1, precision_recall_f1
from hpa.models.checkpoint import load_checkpoint, save_checkpoint
from hpa.training.loss_weights import class_weights, positive_weights
from minidl import losses, optim
from minidl.losses import sigmoid
from minidl.optim import schedules

LOSSES = ("bce", "weighted-bce", "focal", "soft-f1")
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("none", "step", "cosine", "plateau")
METRIC_COLUMNS = ("epoch", "lr", "train_loss", "val_loss", "val_macro_f1", "val_precision",
                  "val_recall", "train_samples_per_s", "seconds")


@dataclasses.dataclass
class TrainConfig:
    """Every choice that shapes a training run (saved in each checkpoint)."""

    model: str = "parallel_lenet"
    model_options: dict = dataclasses.field(default_factory=dict)
    image_size: int = 128
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
    early_stopping: int = 5
    clip_norm: float = 5.0
    seed: int = 0
    augment: bool = True
    oversample: int = 0
    freeze_features: bool = False

    def check(self):
        for name, value, choices in (("loss", self.loss, LOSSES), ("optimizer", self.optimizer, OPTIMIZERS),
                                     ("schedule", self.schedule, SCHEDULES)):
            if value not in choices:
                raise HpaError(f"--{name} {value!r}: choose one of {', '.join(choices)}")
        for name in ("epochs", "batch_size", "image_size"):
            if getattr(self, name) < 1:
                raise HpaError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise HpaError(f"--lr must be positive, got {self.lr}")
        return self


def make_loss(config, train_labels):
    """The criterion named by ``config.loss``, weighted from the training labels."""
    if config.loss == "bce":
        return losses.BCEWithLogitsLoss()
    if config.loss == "weighted-bce":
        return losses.BCEWithLogitsLoss(weight=class_weights(train_labels, config.class_weight),
                                        pos_weight=positive_weights(train_labels, config.pos_weight))
    if config.loss == "focal":
        return losses.FocalLoss(gamma=config.focal_gamma)
    return losses.SoftF1Loss()


def trainable(model, config):
    """The parameters the optimizer updates: the dense head only when fine-tuning."""
    if config.freeze_features:
        for p in model.features.parameters():
            p.requires_grad = False
    return [p for p in model.parameters() if p.requires_grad]


def make_optimizer(config, params):
    if config.optimizer == "sgd":
        return optim.SGD(params, lr=config.lr, momentum=config.momentum,
                         weight_decay=config.weight_decay, nesterov=config.momentum > 0)
    cls = optim.AdamW if config.optimizer == "adamw" else optim.Adam
    return cls(params, lr=config.lr, weight_decay=config.weight_decay)


def make_schedule(config, optimizer):
    if config.schedule == "step":
        return schedules.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)
    if config.schedule == "cosine":
        return schedules.CosineAnnealingLR(optimizer, T_max=config.epochs)
    if config.schedule == "plateau":
        return schedules.ReduceLROnPlateau(optimizer, mode="max", factor=config.gamma,
                                           patience=config.plateau_patience)
    return None


def predict_logits(model, loader, device=None):
    """Logits (N, 28) float32 host array for every batch of ``loader``, in eval mode."""
    model.eval()
    chunks = [md.to_numpy(model(md.to_device(x, device))) for x, _ in loader]
    return np.concatenate(chunks).astype(np.float32)


def summarise(probs, y_true, thresholds=0.5):
    """Macro F1, precision and recall of ``probs >= thresholds`` against y_true (N, C)."""
    y_pred = (probs >= np.asarray(thresholds)).astype(np.uint8)
    precision, recall, _, _ = precision_recall_f1(y_true, y_pred)
    return {"macro_f1": float(macro_f1(y_true, y_pred)),
            "precision": float(np.mean(precision)), "recall": float(np.mean(recall))}


@dataclasses.dataclass
class EarlyStopping:
    """Stop after ``patience`` epochs without a better validation macro F1."""

    patience: int
    best: float = -1.0
    best_epoch: int = -1
    bad_epochs: int = 0

    def update(self, value, epoch):
        """Record an epoch's metric; True if it is the best so far."""
        if value > self.best:
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self):
        return self.patience > 0 and self.bad_epochs >= self.patience


class Trainer:
    """Trains ``model`` on ``train_loader`` and validates on ``val_loader``.

    ``meta`` (model name, options, input size, channel statistics) goes into
    every checkpoint, so ``hpa.predict`` can rebuild the model from it.
    """

    def __init__(self, model, config, train_loader, val_loader, val_labels, train_labels,
                 out_dir, meta, device=None):
        self.model, self.config = model, config
        self.train_loader, self.val_loader = train_loader, val_loader
        self.val_labels = np.asarray(val_labels)
        self.out_dir, self.meta, self.device = os.fspath(out_dir), meta, device
        self.criterion = make_loss(config, train_labels)
        self.params = trainable(model, config)
        self.optimizer = make_optimizer(config, self.params)
        self.schedule = make_schedule(config, self.optimizer)
        self.stopper = EarlyStopping(config.early_stopping)
        self.start_epoch = 0
        os.makedirs(self.out_dir, exist_ok=True)

    # --- paths -------------------------------------------------------------------
    def path(self, name):
        return os.path.join(self.out_dir, name)

    # --- checkpoints -----------------------------------------------------------
    def _state(self, epoch):
        return {"epoch": epoch,
                "optimizer": self.optimizer.state_dict(),
                "schedule": self.schedule.state_dict() if self.schedule else None,
                "early_stopping": dataclasses.asdict(self.stopper),
                "rng": md.rng.get_state()}

    def save(self, name, epoch):
        save_checkpoint(self.path(name), self.model, self.meta, self._state(epoch))

    def resume(self, path):
        """Continue from a ``last.npz`` written by this configuration."""
        model_state, meta, state = load_checkpoint(path)
        if meta.get("model") != self.meta["model"] or meta.get("image_size") != self.meta["image_size"]:
            raise HpaError(f"--resume {path}: checkpoint is for model {meta.get('model')!r} at "
                           f"{meta.get('image_size')} px, this run trains {self.meta['model']!r} at "
                           f"{self.meta['image_size']} px")
        self.model.load_state_dict(model_state)
        self.optimizer.load_state_dict(state["optimizer"])
        if self.schedule and state["schedule"]:
            self.schedule.load_state_dict(state["schedule"])
        self.stopper = EarlyStopping(**state["early_stopping"])
        md.rng.set_state(state["rng"])
        self.start_epoch = state["epoch"] + 1
        return self.start_epoch

    # --- one epoch -------------------------------------------------------------
    def _frozen_forward(self, x):
        # Fine-tuning: the frozen convolutional part runs in eval mode (running
        # batch-norm statistics) and its backward pass is skipped entirely.
        self.model.features.eval()
        return self.model.head(self.model.features(x))

    def train_epoch(self, epoch):
        """One pass over the training loader; returns (mean loss, samples/s)."""
        self.model.train()
        self.train_loader.set_epoch(epoch)
        frozen = self.config.freeze_features
        total, count, start = 0.0, 0, time.perf_counter()
        bar = tqdm(self.train_loader, desc=f"epoch {epoch + 1}/{self.config.epochs}", unit="batch",
                   leave=False, dynamic_ncols=True)
        for x, y in bar:
            x, y = md.to_device(x, self.device), md.to_device(y, self.device)
            logits = self._frozen_forward(x) if frozen else self.model(x)
            loss = self.criterion.forward(logits, y)
            if not np.isfinite(loss):
                raise HpaError(f"epoch {epoch + 1}: training loss became {loss}; lower --lr or set --clip-norm")
            self.model.zero_grad()
            dlogits = self.criterion.backward()
            (self.model.head if frozen else self.model).backward(dlogits)
            if self.config.clip_norm > 0:
                optim.clip_grad_norm_(self.params, self.config.clip_norm)
            self.optimizer.step()
            total += loss * len(x)
            count += len(x)
            bar.set_postfix(loss=f"{total / count:.4f}",
                            samples_per_s=f"{count / (time.perf_counter() - start):.0f}")
        return total / max(count, 1), count / (time.perf_counter() - start)

    def validate(self):
        """(validation loss, probabilities (N, 28)) in eval mode."""
        logits = predict_logits(self.model, self.val_loader, self.device)
        loss = self.criterion.forward(logits, self.val_labels.astype(np.float32))
        return float(loss), sigmoid(logits)

    # --- the run -----------------------------------------------------------------
    def fit(self, log=print):
        """Train until ``epochs`` or early stopping; returns the list of metric rows."""
        history = []
        metrics_path = self.path("metrics.csv")
        if self.start_epoch == 0 or not os.path.exists(metrics_path):
            with open(metrics_path, "w", newline="") as f:
                csv.writer(f).writerow(METRIC_COLUMNS)
        for epoch in range(self.start_epoch, self.config.epochs):
            start = time.perf_counter()
            train_loss, speed = self.train_epoch(epoch)
            val_loss, probs = self.validate()
            scores = summarise(probs, self.val_labels)
            lr = self.optimizer.param_groups[0]["lr"]
            row = dict(zip(METRIC_COLUMNS, (epoch + 1, lr, train_loss, val_loss, scores["macro_f1"],
                                            scores["precision"], scores["recall"], speed,
                                            time.perf_counter() - start)))
            history.append(row)
            with open(metrics_path, "a", newline="") as f:
                csv.writer(f).writerow(f"{row[c]:.6g}" if isinstance(row[c], float) else row[c]
                                       for c in METRIC_COLUMNS)
            improved = self.stopper.update(scores["macro_f1"], epoch)
            if self.schedule is not None:
                if isinstance(self.schedule, schedules.ReduceLROnPlateau):
                    self.schedule.step(scores["macro_f1"])
                else:
                    self.schedule.step()
            log(f"epoch {epoch + 1:>3}/{self.config.epochs}  train loss {train_loss:.4f}  "
                f"val loss {val_loss:.4f}  val macro F1 {scores['macro_f1']:.4f}  "
                f"(P {scores['precision']:.3f} R {scores['recall']:.3f})  lr {lr:.2g}  "
                f"{speed:.0f} samples/s  {row['seconds']:.0f} s" + ("  *best*" if improved else ""))
            if improved:
                self.save("best.npz", epoch)
            self.save("last.npz", epoch)
            if self.stopper.should_stop:
                log(f"early stopping: no better validation macro F1 for {self.stopper.patience} epochs")
                break
        return history

"""The training loop shared by every network.

One epoch:

    for x, y in loader:                   # augmented, normalised float32 batches
        logits = model(x)                 # (B, 28)
        loss = criterion(logits, y)
        model.zero_grad()
        model.backward(criterion.backward())
        clip_grad_norm_(params, clip)     # optional
        optimizer.step()

then a validation pass (macro F1 at threshold 0.5, or with
``early_stopping_on="val-loss"`` the validation loss, decides early stopping and
the best checkpoint), a schedule step, the ``last`` checkpoint rewritten
atomically and then ``metrics.csv`` with the epoch's row. Order of batches and of
augmentations depends only on (seed, epoch), and the checkpoint stores the
optimizer, schedule, early-stopping and random state, so ``--resume``
continues an interrupted run exactly where its last completed epoch ended.
Every ``--checkpoint-every`` minutes ``last`` is also saved within an epoch
with its position (:mod:`hpa.training.position`), and ``--resume`` then
continues from the next batch.
"""
import csv
import dataclasses
import io
import os
import time

import numpy as np
from tqdm import tqdm

import minidl as md
from hpa.data.batches.device_batches import device_batches
from hpa.evaluation.inference import predict_logits
from hpa.evaluation.report import summarise
from hpa.models.checkpoint import open_checkpoint, save_checkpoint
from hpa.models.checkpoint_meta import check_training_state
from hpa.runtime.errors import HpaError, quote
from hpa.training.factories import make_loss, make_optimizer, make_schedule
from hpa.training.fine_tuning import enter_stage, param_groups, stage_of
from hpa.training.loss_watch import LossLog, LossWatch
from hpa.training.position import CheckpointClock, EpochPosition
from minidl import StateDictError, optim
from minidl.atomic import atomic_write_text, remove_stale_temps
from minidl.layers.fused import fuse
from minidl.losses import sigmoid

METRIC_COLUMNS = ("epoch", "lr", "train_loss", "val_loss", "val_macro_f1", "val_label_accuracy", "val_precision",
                  "val_recall", "train_samples_per_s", "seconds")


@dataclasses.dataclass
class EarlyStopping:
    """Stop after ``patience`` epochs without a better value (macro F1, or minus the validation loss)."""

    patience: int
    best: float = None  # None until the first epoch (minus a loss can be any negative number)
    best_epoch: int = -1
    bad_epochs: int = 0

    def update(self, value, epoch):
        """Record an epoch's metric; True if it is the best so far."""
        if self.best is None or value > self.best:
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
    ``is_root``: this process shows progress and writes metrics (False on the
    other ranks of a distributed run, see :mod:`hpa.training.distributed`).
    """

    is_root = True

    def __init__(self, model, config, train_loader, val_loader, val_labels, train_labels,
                 out_dir, meta, device=None):
        self.model, self.config = model, config
        fuse(model)  # fused kernels where the device has them (minidl.layers.fused); the model is unchanged
        self.train_loader, self.val_loader = train_loader, val_loader
        self.val_labels = np.asarray(val_labels)
        self.out_dir, self.meta, self.device = os.fspath(out_dir), meta, device
        self.criterion = make_loss(config, train_labels)
        self.optimizer = make_optimizer(config, param_groups(model))
        self.stage = None
        self.enter_stage(0)
        self.stopper = EarlyStopping(config.early_stopping)
        self.start_epoch = 0
        self.position = None  # where a resumed run continues within its first epoch
        self.clock = CheckpointClock(config.checkpoint_every)  # single-process runs only
        self.watch = LossWatch(config)
        os.makedirs(self.out_dir, exist_ok=True)
        for name in ("last.npz", "best.npz", "metrics.csv"):
            # Temporary files of writes a kill interrupted (each as big as a checkpoint).
            remove_stale_temps(self.path(name))

    def enter_stage(self, epoch):
        """Set up the fine-tuning stage of ``epoch`` (see ``fine_tuning``): frozen parts, rates, schedule."""
        stage = stage_of(self.config, epoch)
        if stage == self.stage:
            return
        enter_stage(self.model, self.optimizer, self.config, stage)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.schedule = make_schedule(self.config, self.optimizer)  # from the stage's rates
        self.stage = stage

    # --- paths -------------------------------------------------------------------
    def path(self, name):
        return os.path.join(self.out_dir, name)

    # --- checkpoints -----------------------------------------------------------
    def _state(self, epoch, position=None):
        """Training state after completed epoch ``epoch`` (-1: none), and ``position`` within the next."""
        return {"epoch": epoch,
                "position": position.as_state() if position else None,
                "optimizer": self.optimizer.state_dict(),
                "schedule": self.schedule.state_dict() if self.schedule else None,
                "early_stopping": dataclasses.asdict(self.stopper),
                "rng": md.rng.get_state()}

    def save(self, name, epoch):
        save_checkpoint(self.path(name), self.model, self.meta, self._state(epoch))

    def resume(self, path):
        """Continue from a ``last.npz`` written by this configuration.

        The file's meta and weight shapes are checked before its arrays are
        read, and its training state before anything is restored.
        """
        checked = open_checkpoint(path)
        try:
            meta = checked.meta
            if meta.get("model") != self.meta["model"] or meta.get("image_size") != self.meta["image_size"]:
                raise HpaError(f"--resume {path}: checkpoint is for model {quote(meta.get('model'))} at "
                               f"{quote(meta.get('image_size'))} px, this run trains {self.meta['model']!r} at "
                               f"{self.meta['image_size']} px")
            checked.check_fits(self.model, f"--resume {path}")
            model_state, meta, state = checked.read()
        finally:
            checked.close()
        check_training_state(state, f"--resume {path}")
        try:
            self.model.load_state_dict(model_state)
            # The stage the checkpoint was written in (that of the epoch in progress for a mid-epoch
            # one); fit() moves on to the next stage, if any, as a run never interrupted does.
            position = state.get("position")
            self.enter_stage(EpochPosition.from_state(position).epoch if position else state["epoch"])
            self.optimizer.load_state_dict(state["optimizer"])
            if self.schedule and state["schedule"]:
                self.schedule.load_state_dict(state["schedule"])
        except (StateDictError, KeyError, ValueError, TypeError) as error:
            raise HpaError(f"--resume {path}: does not fit this run ({error})") from None
        try:
            self.stopper = EarlyStopping(**state["early_stopping"])
            md.rng.set_state(state["rng"])
        except (KeyError, ValueError, TypeError, OverflowError) as error:
            raise HpaError(f"--resume {path}: its early-stopping or random state cannot be restored "
                           f"({quote(error, 120)})") from None
        self.start_epoch = state["epoch"] + 1
        if state.get("position"):
            self.position = EpochPosition.from_state(state["position"])
            self.position.check_order(self.train_loader.epoch_order(self.position.epoch), path)
        return self.start_epoch

    # --- one epoch -------------------------------------------------------------
    def train_epoch(self, epoch):
        """One pass over the training loader; returns (mean loss, samples/s).

        A resumed run's first epoch starts after the batches its checkpoint's
        position had done, with their loss sum.
        """
        self.model.train()
        first, total, count = 0, 0.0, 0
        if self.position is not None and self.position.epoch == epoch:
            first, total, count = self.position.batch, self.position.loss_sum, self.position.samples
        self.position = None
        self.train_loader.set_epoch(epoch, start_batch=first)
        start, done = time.perf_counter(), 0
        # On the GPU the next batch is copied (pinned memory, second stream, uint8 where the
        # device augments it) while this one trains.
        bar = tqdm(device_batches(self.train_loader, self.device), desc=f"epoch {epoch + 1}/{self.config.epochs}", unit="batch",
                   leave=False, dynamic_ncols=True, initial=first, total=len(self.train_loader),
                   disable=not self.is_root)
        losses = LossLog(self.watch, epoch, total, count)  # a GPU's losses stay there until logged
        for batch, (x, y) in enumerate(bar, start=first):
            done += len(x)
            if losses.add(self.train_step(x, y), len(x), batch):
                bar.set_postfix(loss=f"{losses.mean:.4f}",
                                samples_per_s=f"{done / (time.perf_counter() - start):.0f}")
            if self.clock.due() and batch + 1 < len(self.train_loader) and not self.config.distributed:
                losses.flush()  # every loss checked before the checkpoint is written
                total, count = losses.total, losses.count
                position = EpochPosition(epoch, batch + 1, total, count, self.train_loader.epoch_order(epoch))
                save_checkpoint(self.path("last.npz"), self.model, self.meta, self._state(epoch - 1, position))
                self.clock.saved_now()
        losses.flush()
        return losses.mean, done / (time.perf_counter() - start)

    def train_step(self, x, y):
        """Forward, backward, clip and update on one batch; returns the batch's loss (on a GPU a
        0-d device array: nothing in the step waits for the device).

        NumPy's overflow warnings are silenced: a non-finite loss is
        reported once, with advice, by :class:`LossWatch`.
        """
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            x, y = md.to_device(x, self.device), md.to_device(y, self.device)
            logits = self.model(x)
            loss = self.criterion.forward(logits, y, to_float=False)  # on a GPU: a device scalar, not read here
            if isinstance(loss, float) and not np.isfinite(loss):
                return loss
            self.model.zero_grad()
            self.backward(self.criterion.backward())
            if self.config.clip_norm > 0:
                optim.clip_grad_norm_(self.params, self.config.clip_norm)
            self.optimizer.step()
        return loss

    def backward(self, dlogits):
        """Gradients of this batch's loss into every trainable parameter."""
        self.model.backward(dlogits)

    def validate(self):
        """(validation loss, probabilities (N, 28)) in eval mode."""
        logits = predict_logits(self.model, self.val_loader, self.device)  # under no_grad
        loss = self.criterion.forward(logits, self.val_labels.astype(np.float32))
        return float(loss), sigmoid(logits)

    # --- the run -----------------------------------------------------------------
    def _metrics_rows(self):
        """Rows of ``metrics.csv`` up to the epoch training continues from.

        Rows past it (written before an interruption, after the checkpoint
        resumed from) are dropped: the resumed run writes them again.
        """
        path = self.path("metrics.csv")
        if self.start_epoch == 0 or not os.path.exists(path):
            return []
        with open(path, newline="") as f:
            return [row for row in csv.DictReader(f) if int(row["epoch"]) <= self.start_epoch]

    def _write_metrics(self, rows):
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, METRIC_COLUMNS, lineterminator="\n")
        writer.writeheader()
        # .get: rows read back from a run written before a column was added leave it empty
        writer.writerows({c: f"{row[c]:.6g}" if isinstance(row.get(c), float) else row.get(c, "")
                          for c in METRIC_COLUMNS} for row in rows)
        atomic_write_text(self.path("metrics.csv"), buffer.getvalue())

    def fit(self, log=print):
        """Train until ``epochs`` or early stopping; returns this call's metric rows.

        Each epoch saves its checkpoints first and then rewrites ``metrics.csv``
        atomically, so the log never holds an epoch the checkpoint does not.
        """
        history, rows = [], self._metrics_rows()
        self.watch = LossWatch(self.config, log)
        for epoch in range(self.start_epoch, self.config.epochs):
            self.enter_stage(epoch)
            start = time.perf_counter()
            train_loss, speed = self.train_epoch(epoch)
            val_loss, probs = self.validate()
            scores = summarise(probs, self.val_labels)
            lr = self.optimizer.param_groups[-1]["lr"]  # the head's
            row = dict(zip(METRIC_COLUMNS, (epoch + 1, lr, train_loss, val_loss, scores["macro_f1"],
                                            scores["label_accuracy"], scores["precision"], scores["recall"],
                                            speed, time.perf_counter() - start)))
            history.append(row)
            on_loss = self.config.early_stopping_on == "val-loss"
            improved = self.stopper.update(-val_loss if on_loss else scores["macro_f1"], epoch)
            if self.schedule is not None:
                self.schedule.step(scores["macro_f1"])
            log(f"epoch {epoch + 1:>3}/{self.config.epochs}  train loss {train_loss:.4f}  "
                f"val loss {val_loss:.4f}  val macro F1 {scores['macro_f1']:.4f}  "
                f"(P {scores['precision']:.3f} R {scores['recall']:.3f}, label acc {scores['label_accuracy']:.3f})  "
                f"lr {lr:.2g}  "
                f"{speed:.0f} samples/s  {row['seconds']:.0f} s" + ("  *best*" if improved else ""))
            if improved:
                self.save("best.npz", epoch)
            self.save("last.npz", epoch)
            rows.append(row)
            if self.is_root:
                self._write_metrics(rows)
            if self.stopper.should_stop:
                log(f"early stopping: no better validation {'loss' if on_loss else 'macro F1'} "
                    f"for {self.stopper.patience} epochs")
                break
        return history

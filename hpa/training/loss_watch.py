"""Watching the training loss: stop on NaN/inf with advice that fits the run, warn when it runs away.

A loss that becomes NaN or infinite ruins every weight it touches, so
training stops at once with advice based on the run's own settings
(gradient clipping is on by default, so "set --clip-norm" rarely helps).
A loss that stays finite but grows far beyond where it started usually means
too high a learning rate; that gets one warning, and training goes on.
"""
import math
import time

import minidl as md
from hpa.runtime.errors import HpaError
from hpa.training.config import LOSSES

# Warn when the loss stays above RUNAWAY_FACTOR x its first value for RUNAWAY_STEPS batches in a row.
RUNAWAY_FACTOR = 100.0
RUNAWAY_STEPS = 20


class LossWatch:
    """Checks each batch's training loss of one run (``config``: its TrainConfig)."""

    def __init__(self, config, log=print, factor=RUNAWAY_FACTOR, steps=RUNAWAY_STEPS):
        self.config, self.log = config, log
        self.factor, self.steps = factor, steps
        self.first, self.high_steps, self.warned = None, 0, False

    def check(self, loss, epoch, batch):
        """Raise HpaError on a non-finite ``loss``; warn once on a runaway one (epoch, batch 0-based)."""
        where = f"epoch {epoch + 1}, batch {batch + 1}"
        if not math.isfinite(loss):
            raise HpaError(f"{where}: training loss became {loss}; {self.advice()}")
        if self.first is None:
            self.first = loss
        self.high_steps = self.high_steps + 1 if self.first > 0 and loss > self.factor * self.first else 0
        if self.high_steps == self.steps and not self.warned:
            self.warned = True
            self.log(f"warning: {where}: the training loss ({loss:.4g}) has stayed above {self.factor:g}x "
                     f"its first value ({self.first:.4g}) for {self.steps} batches; it is diverging "
                     f"- {self.advice()}")

    def advice(self):
        """What to change, given the run's learning rate, clipping and loss."""
        lower_lr = f"lower the learning rate (e.g. --lr {self.config.lr / 10:g})"
        if self.config.clip_norm <= 0:
            return f"{lower_lr} or clip gradients (e.g. --clip-norm 5)"
        others = ", ".join(loss for loss in LOSSES if loss != self.config.loss)
        return (f"gradients are already clipped to norm {self.config.clip_norm:g}, so {lower_lr} "
                f"or try another --loss ({others})")


class LossLog:
    """One epoch's batch losses, read on the host only when the loop logs.

    On a GPU a batch's loss is a 0-d device array (``Loss.forward(...,
    to_float=False)``); reading it makes the host wait for the step, so the
    loop ``add``s it and reads every pending loss at once (one transfer) only
    when ``LOG_EVERY_S`` seconds have passed, before a checkpoint, and at the
    end of the epoch (``flush``). Host losses (floats) are read at once, as
    before. Every loss read goes through ``LossWatch.check`` in batch order,
    so a NaN stops the run with the message of its own batch; on a GPU the
    batches queued after it have already run by then (on weights the NaN has
    spoilt; the run stops, and a checkpoint is only written after a flush).
    """

    LOG_EVERY_S = 0.5

    def __init__(self, watch, epoch, total=0.0, count=0, clock=time.perf_counter):
        self.watch, self.epoch, self.total, self.count, self.clock = watch, epoch, total, count, clock
        self.pending, self.last_read = [], clock()

    def add(self, loss, samples, batch):
        """Keep batch ``batch``'s ``loss``; returns True when it read the pending losses (a moment to log)."""
        self.pending.append((loss, samples, batch))
        if isinstance(loss, (float, int)) or self.clock() - self.last_read >= self.LOG_EVERY_S:
            self.flush()
            return True
        return False

    def flush(self):
        """Read every pending loss (one host transfer) and check each, in order."""
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        devices = [loss for loss, _, _ in pending if not isinstance(loss, (float, int))]
        values = iter(md.to_numpy(md.backend.get_array_module(devices[0]).stack(devices)).tolist()
                      if devices else ())
        for loss, samples, batch in pending:
            value = float(loss) if isinstance(loss, (float, int)) else next(values)
            self.watch.check(value, self.epoch, batch)
            self.total += value * samples
            self.count += samples
        self.last_read = self.clock()

    @property
    def mean(self):
        """Mean loss per sample of the batches read so far."""
        return self.total / max(self.count, 1)

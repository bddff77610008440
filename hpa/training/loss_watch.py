"""Watching the training loss: stop on NaN/inf with advice that fits the run, warn when it runs away.

A loss that becomes NaN or infinite ruins every weight it touches, so
training stops at once with advice based on the run's own settings
(gradient clipping is on by default, so "set --clip-norm" rarely helps).
A loss that stays finite but grows far beyond where it started usually means
too high a learning rate; that gets one warning, and training goes on.
"""
import math

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

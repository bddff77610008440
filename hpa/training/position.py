"""Mid-epoch checkpoints: where within an epoch training was, so that it continues from the next batch.

At 512 px one epoch over the full data set takes hours on a CPU, so the
trainer also saves ``last.npz`` every ``--checkpoint-every`` minutes within
an epoch. Besides the weights, optimizer, schedule and random state (saved
at every checkpoint), it records an :class:`EpochPosition`: the epoch, how
many of its batches are done, the loss sum so far and the loader's row
order. Because batch ``k`` of epoch ``e`` depends only on ``(seed, e, k)``
(see :mod:`hpa.data.batches.loader`), a resumed run that skips the done batches
trains on exactly the batches the uninterrupted run would have, bit for bit.
"""
import dataclasses
import time

import numpy as np

from hpa.runtime.errors import HpaError


@dataclasses.dataclass
class EpochPosition:
    """A point inside epoch ``epoch`` (0-based) after ``batch`` of its batches.

    loss_sum  sum over the done batches of (batch loss x batch size)
    samples   samples in the done batches
    order     int64 (M,), the loader's row order of this epoch
    """

    epoch: int
    batch: int
    loss_sum: float
    samples: int
    order: np.ndarray

    def as_state(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_state(cls, state):
        return cls(**state)

    def check_order(self, order, path):
        """Refuse to continue with a loader whose order differs (other data, seed or batch size)."""
        if not np.array_equal(np.asarray(self.order), order):
            raise HpaError(f"--resume {path}: the checkpoint stopped within epoch {self.epoch + 1}, but this "
                           f"run orders that epoch's samples differently (other data, --seed or "
                           f"--oversample); resume with the run's own data and options")


class CheckpointClock:
    """Says when a mid-epoch checkpoint is due: every ``minutes`` (0: after every batch)."""

    def __init__(self, minutes):
        self.seconds = 60.0 * minutes
        self.last = time.monotonic()

    def due(self):
        return time.monotonic() - self.last >= self.seconds

    def saved_now(self):
        """Record a checkpoint just written."""
        self.last = time.monotonic()

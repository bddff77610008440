"""One random stream per image, for augmenting a batch whose result must not depend on the batch.

A data loader augments the sample at place ``p`` of an epoch's order with
randomness of its own, seeded by ``(seed, epoch, p)``: then an image's
augmentation is the same whatever the batch size, however a batch is split
between processes (:mod:`hpa.data.batches.sharded_loader`) and whichever images are
its neighbours. Augmenting image by image would do it, at the price of a
Python round trip per image; :class:`SampleStreams` keeps the augmentation
vectorised instead. It stands in for the ``numpy.random.Generator`` that an
augmentation receives (:mod:`hpa.data.augmentation.augment`):

    streams = SampleStreams([np.random.default_rng([seed, epoch, 2, p]) for p in slots])
    x = augment(x, streams)              # x (B, C, S, S), B == len(slots)

Every draw's first dimension runs over the images: ``streams.uniform(lo,
hi, (B, 1, 1, 1))`` gives image b a number drawn from generator b. Inside
:meth:`~hpa.data.augmentation.augment.Augmentation._on_chosen`, draws run over the chosen
images only (:meth:`only`), so an image that is not chosen draws nothing
there. Each image's sequence of draws, and so its result, depends on its own
generator alone.
"""
import contextlib

import numpy as np

from hpa.runtime.errors import HpaError


class SampleStreams:
    """A ``numpy.random.Generator`` look-alike drawing row b of every draw from ``generators[b]``."""

    def __init__(self, generators):
        self._generators = list(generators)
        self._active = self._generators

    def __len__(self):
        return len(self._active)

    @contextlib.contextmanager
    def only(self, chosen):
        """Within the block, draws run over the images where ``chosen`` (len(self),) bool is true."""
        previous = self._active
        self._active = [g for g, keep in zip(previous, np.asarray(chosen, bool).tolist()) if keep]
        try:
            yield self
        finally:
            self._active = previous

    def _each(self, size, draw):
        """Stack ``draw(generator, shape[1:])`` of each active generator -> array of ``shape``."""
        shape = (int(size),) if np.ndim(size) == 0 else tuple(int(n) for n in size)
        if not shape or shape[0] != len(self._active):
            raise HpaError(f"a draw of shape {shape} from the streams of {len(self._active)} images: "
                           f"its first dimension must run over the images")
        if not self._active:  # still an array of the right dtype
            return np.asarray(draw(np.random.default_rng(0), shape))
        if len(shape) == 1:  # one number per image, the common case: no arrays per image
            return np.array([draw(g, None) for g in self._active])
        return np.stack([draw(g, shape[1:]) for g in self._active])

    def random(self, size):
        return self._each(size, lambda g, s: g.random(s))

    def integers(self, low, high, size):
        return self._each(size, lambda g, s: g.integers(low, high, s))

    def uniform(self, low, high, size):
        return self._each(size, lambda g, s: g.uniform(low, high, s))

    def choice(self, a, size, p=None):
        return self._each(size, lambda g, s: g.choice(a, s, p=p))

    def standard_normal(self, size, dtype=np.float64):
        return self._each(size, lambda g, s: g.standard_normal(s, dtype=dtype))

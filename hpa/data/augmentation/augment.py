"""Random augmentations for batches of 4-channel HPA images: the framework.

Every augmentation works on a whole batch ``x`` of shape (B, C, H, W) (C is 4
for HPA: red, green, blue, yellow) and moves or changes all channels of an
image together, so the four stains stay aligned pixel for pixel.

An augmentation is an object called as ``aug(x, rng)``:

* ``p`` is the probability that it changes a given image. Each image of the
  batch decides on its own, so one batch mixes changed and unchanged images.
* ``rng`` is a ``numpy.random.Generator``, or a
  :class:`~hpa.data.augmentation.streams.SampleStreams` giving each image its own
  stream (what the loaders pass). All randomness comes from it, so the same
  seed gives the same output.
* The input is left alone and a new array returned, unless the caller
  passes ``inplace=True`` to allow reusing its memory (:class:`Compose` does
  so for the intermediate arrays it owns).

Dtypes: the input is uint8 or float32.

* :class:`Dihedral` only moves pixels, so it keeps the dtype (uint8 stays
  uint8, which keeps the common flip/rotate step cheap).
* Every other augmentation interpolates or rescales intensities and returns
  float32, still on the 0..255 scale of the input. Values are not clipped: a
  brightened pixel may exceed 255. Normalisation to zero mean and unit
  variance happens later, in :mod:`hpa.data.batches.loader`.

This module holds the framework (the base class, :class:`Compose`, the
argument checks) and the steps of :func:`default_augmentation`: flips and
90-degree rotations, brightness and contrast. Noise and blur are in
:mod:`hpa.data.augmentation.noise_blur`; rotations by any angle, crops and affine motions
resample the image and live with their engine in :mod:`hpa.data.augmentation.affine`.
"""
import contextlib

import numpy as np

from hpa.data.augmentation.streams import SampleStreams
from hpa.runtime.errors import HpaError


def check_batch(x):
    """Refuse anything but a uint8 or float32 array (B, C, H, W), naming ``x``."""
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        shape = getattr(x, "shape", type(x).__name__)
        raise HpaError(f"x: expected a batch of shape (B, C, H, W), got {shape}")
    if x.dtype not in (np.uint8, np.float32):
        raise HpaError(f"x: dtype must be uint8 or float32, got {x.dtype}")


def _check_probability(p):
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) or not 0 <= p <= 1:
        raise HpaError(f"p: probability must be a number in [0, 1], got {p!r}")
    return float(p)


def check_range(value, name, low=-np.inf, high=np.inf):
    """A ``(min, max)`` pair of numbers with ``low <= min <= max <= high``."""
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise HpaError(f"{name}: expected a (min, max) pair of numbers, got {value!r}") from None
    if not low <= lo <= hi <= high:
        raise HpaError(f"{name}: need {low} <= min <= max <= {high}, got {value!r}")
    return lo, hi


class Augmentation:
    """Base class: decides which images to change; the subclass changes them.

    A subclass implements one hook, ``_augment(x, chosen, rng, inplace)``:
    ``x`` is the whole batch (B, C, H, W), ``chosen`` a boolean mask (B,) of
    the images to change, and the result the augmented batch, float32 unless
    the class sets ``keeps_dtype``. It may reuse ``x``'s memory only when
    ``inplace`` is true. Two ways to write it:

    * cheap per-image transforms run over the whole batch with neutral
      parameters (a gain of 1, ...) for the images not chosen, which is
      faster than gathering and scattering the chosen ones;
    * costly transforms hand a function of the chosen images alone to
      :meth:`_on_chosen`, so images left alone cost nothing but a copy.
    """

    keeps_dtype = False

    def __init__(self, p):
        self.p = _check_probability(p)

    def __call__(self, x, rng, inplace=False):
        """Augment batch ``x`` (B, C, H, W) -> array of the same shape.

        With ``inplace=False`` (the default) ``x`` is left alone and a new
        array returned. ``inplace=True`` lets the result reuse ``x``'s memory
        when the dtypes agree: :class:`Compose` passes it for the arrays it
        made itself, saving a fresh allocation per step.
        """
        check_batch(x)
        if not isinstance(rng, (np.random.Generator, SampleStreams)):
            raise HpaError(f"rng: expected a numpy.random.Generator or SampleStreams, got {type(rng).__name__}")
        return self._augment(x, rng.random(len(x)) < self.p, rng, inplace)

    def _augment(self, x, chosen, rng, inplace):
        raise NotImplementedError(f"{type(self).__name__} must implement _augment")

    def _on_chosen(self, transform, x, chosen, inplace, rng):
        """Batch with ``transform`` applied to the chosen images only.

        ``transform`` maps the chosen images (b, C, H, W), b >= 1, in the
        caller's dtype, to a new array; it must not modify its input. The
        other images are copied (or, with ``inplace``, kept) unchanged.
        ``rng`` is the one ``transform`` draws from: with per-image streams
        (:class:`~hpa.data.augmentation.streams.SampleStreams`) its draws run over
        the chosen images.
        """
        drawing = rng.only(chosen) if isinstance(rng, SampleStreams) else contextlib.nullcontext()
        if chosen.all() and len(x):
            with drawing:
                return transform(x)
        dtype = x.dtype if self.keeps_dtype else np.dtype(np.float32)
        out = x if inplace and x.dtype == dtype else x.astype(dtype)
        if chosen.any():
            with drawing:
                out[chosen] = transform(x[chosen])
        return out

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({params})"


class Compose:
    """Apply augmentations one after the other: ``Compose([a, b])(x, rng)``.

    A step may be any callable ``f(x, rng)`` that returns a new array or
    ``x`` itself, never a modified ``x``. The caller's ``x`` is never
    modified; with no steps it is returned as it is.
    """

    def __init__(self, augmentations):
        self.augmentations = list(augmentations)
        for a in self.augmentations:
            if not callable(a):
                raise HpaError(f"augmentations: {a!r} is not callable as aug(x, rng)")

    def __call__(self, x, rng, inplace=False):
        """Run every step on ``x`` (B, C, H, W); ``inplace`` as for
        :meth:`Augmentation.__call__`."""
        for a in self.augmentations:
            if isinstance(a, (Augmentation, Compose)):
                y = a(x, rng, inplace=inplace)
            else:
                y = a(x, rng)
            # An array a step made is ours to overwrite in the next steps.
            inplace = inplace or y is not x
            x = y
        return x

    def __repr__(self):
        return f"Compose({self.augmentations!r})"


def default_augmentation():
    """Flips and 90-degree rotations, then brightness and contrast jitter.

    Cheap and label-preserving: protein localisation does not depend on the
    orientation of the field of view or on the exact exposure.
    """
    return Compose([
        Dihedral(p=1.0),
        Brightness(p=0.5, factor=(0.8, 1.2)),
        Contrast(p=0.5, factor=(0.8, 1.2)),
    ])


# ---------------------------------------------------------------- dihedral


def dihedral(x, g):
    """Element ``g`` (0..7) of the symmetry group of the square on ``x`` (..., S, S).

    ``g % 4`` quarter turns counter-clockwise, then for ``g >= 4`` a left-right
    flip. Returns a view.
    """
    out = np.rot90(x, g % 4, axes=(-2, -1))
    return out[..., ::-1] if g >= 4 else out


class Dihedral(Augmentation):
    """One of the 8 flips/90-degree rotations, uniformly, for each chosen image.

    The identity is one of the 8, so with ``p=1`` an image stays as it is with
    probability 1/8. Needs square images; keeps the dtype.
    """

    keeps_dtype = True

    def __init__(self, p=1.0):
        super().__init__(p)

    def _augment(self, x, chosen, rng, inplace):
        if x.shape[2] != x.shape[3]:
            raise HpaError(f"x: flips and 90-degree rotations need square images, "
                           f"got {x.shape[2]}x{x.shape[3]}")

        def turn(images):
            g = rng.integers(0, 8, len(images))
            out = np.empty_like(images)
            # One vectorised copy per group element drawn rather than one per
            # image; the loader augments image by image, so one element is common.
            for element in np.unique(g).tolist():
                members = g == element
                if members.all():
                    out[...] = dihedral(images, element)
                else:
                    out[members] = dihedral(images[members], element)
            return out

        return self._on_chosen(turn, x, chosen, inplace, rng)


# ------------------------------------------------------------- intensities


class Brightness(Augmentation):
    """Multiply intensities by a random gain in ``factor``.

    ``per_channel=False`` draws one gain per image; ``True`` one per image and
    channel, which mimics the independent exposure of each stain.
    """

    def __init__(self, p=0.5, factor=(0.8, 1.2), per_channel=False):
        super().__init__(p)
        self.factor = check_range(factor, "factor", 0)
        self.per_channel = bool(per_channel)

    def _augment(self, x, chosen, rng, inplace):
        shape = (len(x), x.shape[1] if self.per_channel else 1, 1, 1)
        gain = rng.uniform(*self.factor, shape).astype(np.float32)
        gain[~chosen] = 1
        out = x if inplace and x.dtype == np.float32 else None
        return np.multiply(x, gain, out=out, dtype=np.float32)


class Contrast(Augmentation):
    """Stretch intensities about each channel's mean by a random ``factor``.

    ``x' = mean + f * (x - mean)`` with one ``f`` per image; the mean of every
    channel of the image is unchanged.
    """

    def __init__(self, p=0.5, factor=(0.8, 1.2)):
        super().__init__(p)
        self.factor = check_range(factor, "factor", 0)

    def _augment(self, x, chosen, rng, inplace):
        f = rng.uniform(*self.factor, (len(x), 1, 1, 1)).astype(np.float32)
        f[~chosen] = 1
        mean = x.mean(axis=(2, 3), keepdims=True, dtype=np.float32)
        out = x if inplace and x.dtype == np.float32 else None
        out = np.multiply(x, f, out=out, dtype=np.float32)
        out += mean * (1 - f)
        return out

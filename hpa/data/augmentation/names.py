"""Augmentations by name, for the command line: ``--augment dihedral,blur,noise``.

Each name stands for one augmentation with fixed parameters (the ones the HPA
papers used, Madeira & Parreira's list in particular), described in
:data:`AUGMENTATIONS` and shown by ``python -m hpa.train --help``.
:func:`parse_augment` turns a comma-separated list into a
:class:`~hpa.data.augmentation.augment.Compose` of them, in the order given.

:class:`OneOf` gives each chosen image exactly one augmentation drawn from a
list: the rare-class copies of an oversampled run get "one of the paper's
augmentations per copy" this way (``--oversample-augment``).
"""
import numpy as np

from hpa.data.augmentation.affine import Affine, RandomCrop, Rotate
from hpa.data.augmentation.augment import Augmentation, Brightness, Compose, Contrast, Dihedral, check_batch
from hpa.data.augmentation.noise_blur import GaussianBlur, GaussianNoise
from hpa.data.augmentation.streams import SampleStreams
from hpa.runtime.errors import HpaError


class OneOf(Augmentation):
    """Each chosen image gets one of ``augmentations``, drawn with probabilities ``weights``.

    The drawn augmentation always applies (its own ``p`` is not consulted):
    ``OneOf`` decides which images change. Returns float32 unless every
    member keeps the dtype.
    """

    def __init__(self, augmentations, weights=None, p=1.0):
        super().__init__(p)
        self.augmentations = list(augmentations)
        if not self.augmentations or not all(isinstance(a, Augmentation) for a in self.augmentations):
            raise HpaError(f"augmentations: expected a non-empty list of Augmentation, got {augmentations!r}")
        w = np.ones(len(self.augmentations)) if weights is None else np.asarray(weights, np.float64)
        if w.shape != (len(self.augmentations),) or (w < 0).any() or not w.sum() > 0:
            raise HpaError(f"weights: expected {len(self.augmentations)} non-negative numbers, got {weights!r}")
        self.weights = w / w.sum()
        self.keeps_dtype = all(a.keeps_dtype for a in self.augmentations)

    def _augment(self, x, chosen, rng, inplace):
        pick = rng.choice(len(self.augmentations), size=len(x), p=self.weights)
        # With one stream per image every member draws for every image, so that
        # an image's draws never depend on what its neighbours picked.
        every_member = isinstance(rng, SampleStreams)
        for j, aug in enumerate(self.augmentations):
            mask = chosen & (pick == j)
            if mask.any() or every_member:
                y = aug._augment(x, mask, rng, inplace)
                inplace = inplace or y is not x
                x = y
        if not self.keeps_dtype and x.dtype != np.float32:
            x = x.astype(np.float32)
        return x

    def apply_to(self, x, chosen, rng):
        """Augment exactly the images where ``chosen`` (B,) bool is true; ``x`` is left alone."""
        check_batch(x)
        return self._augment(x, np.asarray(chosen, bool), rng, inplace=False)


def _noise():
    # Per pixel and channel, or one noise image shared by the four stains: half each.
    return OneOf([GaussianNoise(1.0, sigma=(0.0, 8.0), per_channel=True),
                  GaussianNoise(1.0, sigma=(0.0, 8.0), per_channel=False)], p=0.5)


def _brightness():
    # One gain per image, or (for a fifth of the images) one per stain.
    return OneOf([Brightness(1.0, factor=(0.8, 1.2), per_channel=False),
                  Brightness(1.0, factor=(0.8, 1.2), per_channel=True)], weights=[0.8, 0.2], p=0.5)


# name -> (what it does, with its parameters; factory)
AUGMENTATIONS = {
    "dihedral": ("one of the 8 flips and 90-degree rotations, uniformly (mirroring), every image",
                 lambda: Dihedral(p=1.0)),
    "rotate45": ("rotation by a multiple of 45 degrees, mirrored corners, p=0.5",
                 lambda: Rotate(p=0.5, angles=range(0, 360, 45))),
    "blur": ("Gaussian blur, sigma uniform in 0-0.5 px, p=0.5",
             lambda: GaussianBlur(p=0.5, sigma=(0.0, 0.5))),
    "crop": ("side crop: a window of 60-100%% of the side, placed at random, resized back, p=0.5",
             lambda: RandomCrop(p=0.5, scale=(0.6, 1.0))),
    "contrast": ("contrast x0.5-1.5 about each stain's mean, p=0.5",
                 lambda: Contrast(p=0.5, factor=(0.5, 1.5))),
    "brightness": ("brightness x0.8-1.2, one gain per image or (probability 0.2) per stain, p=0.5",
                   _brightness),
    "noise": (("Gaussian noise, sigma 0-8 on the 0-255 scale, per pixel or per pixel and stain "
               "(half each), p=0.5"), _noise),
    "affine": (("zoom x0.9-1.1, shift up to 10%% of the side, rotation -180 to 180, shear -10 to 10 "
                "degrees, mirrored borders, p=0.5"), lambda: Affine(p=0.5)),
}
DEFAULT_AUGMENT = "dihedral,brightness,contrast"


def augment_names(text):
    """The names of a comma-separated list (empty text: none); unknown names are an error."""
    names = [n.strip() for n in (text or "").split(",") if n.strip()]
    unknown = [n for n in names if n not in AUGMENTATIONS]
    if unknown:
        raise HpaError(f"--augment {', '.join(unknown)}: unknown augmentation; choose from "
                       f"{', '.join(AUGMENTATIONS)}")
    return names


def parse_augment(text):
    """``Compose`` of the named augmentations in order, or None for an empty list."""
    names = augment_names(text)
    return Compose([AUGMENTATIONS[n][1]() for n in names]) if names else None


def one_of_named(text):
    """``OneOf`` the named augmentations (equal chances), or None for an empty list."""
    names = augment_names(text)
    return OneOf([AUGMENTATIONS[n][1]() for n in names]) if names else None


def augment_help():
    """The --help text: one line per name."""
    return "; ".join(f"{name}: {what}" for name, (what, _) in AUGMENTATIONS.items())

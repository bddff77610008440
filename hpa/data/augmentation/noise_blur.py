"""Augmentations that imitate imperfect imaging: sensor noise and defocus blur.

Both follow the rules of :mod:`hpa.data.augmentation.augment` (``aug(x, rng)`` on a batch
(B, C, H, W), each image chosen with probability ``p``) and return float32
on the 0..255 scale. Both are costly per pixel, so they compute only the
chosen images (:meth:`~hpa.data.augmentation.augment.Augmentation._on_chosen`).
"""
import numpy as np

from hpa.data.augmentation.augment import Augmentation, check_range


class GaussianNoise(Augmentation):
    """Add zero-mean Gaussian noise with a random standard deviation in ``sigma``.

    ``sigma`` is on the 0..255 scale, drawn once per image. With
    ``per_channel=True`` every pixel of every channel gets its own noise;
    with ``False`` one noise image is shared by the four channels.
    """

    def __init__(self, p=0.5, sigma=(0.0, 8.0), per_channel=True):
        super().__init__(p)
        self.sigma = check_range(sigma, "sigma", 0)
        self.per_channel = bool(per_channel)

    def _augment(self, x, chosen, rng, inplace):
        def add_noise(images):
            b, c, h, w = images.shape
            sigma = rng.uniform(*self.sigma, (b, 1, 1, 1)).astype(np.float32)
            noise = rng.standard_normal((b, c if self.per_channel else 1, h, w), dtype=np.float32)
            noise *= sigma
            return images + noise

        return self._on_chosen(add_noise, x, chosen, inplace, rng)


class GaussianBlur(Augmentation):
    """Blur with a Gaussian of random standard deviation in ``sigma`` (pixels).

    Separable: a 1-D kernel along the width, then along the height, each
    image with its own sigma. Kernels reach 3 sigma (at least 1 px) and sum
    to 1, so flat regions keep their value and the image mean barely moves
    (borders are mirrored).
    """

    def __init__(self, p=0.5, sigma=(0.1, 1.5)):
        super().__init__(p)
        self.sigma = check_range(sigma, "sigma", 0, 50)

    def _augment(self, x, chosen, rng, inplace):
        def blur(images):
            sigma = rng.uniform(*self.sigma, len(images))
            # Each kernel reaches 3 of its own sigma, so that an image's blur does
            # not depend on the other images of its batch; one pass per radius.
            radii = np.maximum(1, np.ceil(3 * sigma)).astype(np.int64)
            out = np.empty(images.shape, np.float32)
            for radius in np.unique(radii).tolist():
                members = radii == radius
                out[members] = _gaussian_blur(images[members], sigma[members], radius)
            return out

        return self._on_chosen(blur, x, chosen, inplace, rng)


def _gaussian_blur(images, sigma, radius):
    """Blur ``images`` (b, C, H, W) with Gaussians of ``sigma`` (b,) cut at ``radius`` px -> float32."""
    taps = np.arange(-radius, radius + 1)
    kernels = np.exp(-0.5 * (taps / np.maximum(sigma, 1e-6)[:, None]) ** 2)
    kernels = (kernels / kernels.sum(axis=1, keepdims=True)).astype(np.float32)
    out = _convolve_along_width(images, kernels)
    return _convolve_along_width(out.swapaxes(2, 3), kernels).swapaxes(2, 3)


def _convolve_along_width(x, kernels):
    """Convolve each image of ``x`` (b, C, H, W) along its width with its own kernel.

    kernels: (b, K) with K odd. Borders are mirrored. Returns float32 (b, C, H, W).
    """
    radius = kernels.shape[1] // 2
    width = x.shape[3]
    padded = np.pad(x, ((0, 0), (0, 0), (0, 0), (radius, radius)), mode="symmetric")
    weights = kernels[:, :, None, None, None]
    out = np.zeros(x.shape, np.float32)
    # A loop over the few taps; each step is one multiply-add over the batch.
    for t in range(kernels.shape[1]):
        out += weights[:, t] * padded[..., t:t + width]
    return out

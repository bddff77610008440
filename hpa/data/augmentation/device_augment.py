"""The host's augmentation, drawn on the host and applied on the device.

On the GPU the loader sends uint8 images (a quarter of float32's bytes) with
a few numbers per image, and the device turns them into the normalised float
batch (:func:`minidl.kernels.image_ops.augment_images`). The numbers are the
ones the host augmentation (:mod:`hpa.data.augmentation.augment`) would use: a plan walks
its steps and makes exactly the draws each step makes from the image's own
streams (:class:`~hpa.data.augmentation.streams.SampleStreams`), in the same order,
so the same seed gives the same augmentation on either side, up to float
rounding (``tests/hpa/test_device_augment.py`` checks it step by step).

What the device does: :class:`~hpa.data.augmentation.augment.Dihedral`,
:class:`~hpa.data.augmentation.augment.Brightness`, :class:`~hpa.data.augmentation.augment.Contrast`, in
any order and number (the flips and turns compose into one element, gains and
factors multiply: contrast about the mean commutes with a gain), then at most
one Gaussian noise step, last (``noise`` of ``--augment``), each alone or in a
:class:`~hpa.data.augmentation.names.OneOf`. Noise is drawn on the device from Philox
keyed per image (:class:`PhiloxGaussianNoise` is its host twin), not from NumPy's
normal generator: the host path keeps NumPy's noise, so with ``noise`` a GPU run
is reproducible on the GPU, and checkable against the twin, but not equal to a
CPU run.

What stays on the host: the resampling steps (affine, crop, rotate45, blur)
and oversampled copies' ``--oversample-augment``. Their output is float32, so
the batch would travel as float32 anyway, and at their cost per pixel they
are where the host spends its time only when asked for; :func:`device_plan`
returns None for such a pipeline and the loader keeps the host path.
"""
import numpy as np

from hpa.data.augmentation.augment import Augmentation, Brightness, Compose, Contrast, Dihedral, dihedral
from hpa.data.augmentation.names import OneOf
from hpa.data.augmentation.noise_blur import GaussianNoise

# _COMPOSE[e, g]: the element equal to applying e, then g (the 8 act faithfully on a 2x2 square).
_SQUARE = np.arange(4).reshape(2, 2)
_COMPOSE = np.array([[next(h for h in range(8) if np.array_equal(dihedral(dihedral(_SQUARE, e), g),
                                                                   dihedral(_SQUARE, h)))
                      for g in range(8)] for e in range(8)])
_INTENSITY = (Dihedral, Brightness, Contrast)


def _members(step):
    return step.augmentations if isinstance(step, OneOf) else [step]


def device_plan(augment):
    """The steps of ``augment`` (a Compose, one step, or None) if the device can apply them all, else None."""
    steps = [] if augment is None else list(augment.augmentations) if isinstance(augment, Compose) else [augment]
    for k, step in enumerate(steps):
        members = _members(step) if isinstance(step, Augmentation) else [step]
        if all(type(m) in _INTENSITY for m in members):
            continue
        noise = all(type(m) in (GaussianNoise, PhiloxGaussianNoise) for m in members)
        if not (noise and k == len(steps) - 1):
            return None
    return steps


def draw_parameters(steps, streams, channels):
    """The device's arguments for a batch: dict of NumPy arrays (B = len(streams)).

    element int32 (B,); gain, factor float32 (B, C); noise_sigma float32 (B,)
    on the 0..255 scale (0: no noise); noise_key int32 (B, 2); noise_shared
    int32 (B,). ``streams`` advance exactly as the host augmentation's do.
    """
    b = len(streams)
    p = {"element": np.zeros(b, np.int32), "gain": np.ones((b, channels), np.float32),
         "factor": np.ones((b, channels), np.float32), "noise_sigma": np.zeros(b, np.float32),
         "noise_key": np.zeros((b, 2), np.int32), "noise_shared": np.zeros(b, np.int32)}
    for step in steps:
        chosen = streams.random(b) < step.p  # Augmentation.__call__
        if isinstance(step, OneOf):  # OneOf._augment: every member draws, for its own images
            pick = streams.choice(len(step.augmentations), size=b, p=step.weights)
            for j, member in enumerate(step.augmentations):
                _draw(member, chosen & (pick == j), streams, p)
        else:
            _draw(step, chosen, streams, p)
    return p


def _draw(step, chosen, streams, p):
    """The draws of ``step._augment(x, chosen, streams)``, recorded into ``p``."""
    b = len(chosen)
    if isinstance(step, Brightness):
        gain = streams.uniform(*step.factor, (b, p["gain"].shape[1] if step.per_channel else 1, 1, 1))
        gain = gain.astype(np.float32).reshape(b, -1)
        gain[~chosen] = 1
        p["gain"] *= gain
    elif isinstance(step, Contrast):
        factor = streams.uniform(*step.factor, (b, 1, 1, 1)).astype(np.float32).reshape(b, 1)
        factor[~chosen] = 1
        p["factor"] *= factor
    elif chosen.any():  # Dihedral and noise draw through _on_chosen: for the chosen images only
        with streams.only(chosen):
            if isinstance(step, Dihedral):
                p["element"][chosen] = _COMPOSE[p["element"][chosen], streams.integers(0, 8, int(chosen.sum()))]
            else:
                sigma, key = _noise_draws(step, streams, int(chosen.sum()))
                p["noise_sigma"][chosen] = sigma.reshape(-1)
                p["noise_key"][chosen] = key
                p["noise_shared"][chosen] = not step.per_channel


def _noise_draws(step, streams, b):
    """A noise step's draws for ``b`` images: sigma float32 (b, 1, 1, 1), Philox key words int32 (b, 2)."""
    sigma = streams.uniform(*step.sigma, (b, 1, 1, 1)).astype(np.float32)
    key = streams.integers(0, 2 ** 32, (b, 2)).astype(np.uint32).view(np.int32)
    return sigma, key


class PhiloxGaussianNoise(GaussianNoise):
    """:class:`~hpa.data.augmentation.noise_blur.GaussianNoise` with the device's generator, on the host.

    Same draws of sigma; the normals come from Philox4x32-10 under a key of two
    words drawn from the image's stream (:func:`minidl.kernels.image_twins.philox_normal`),
    which is what the device computes from the same key.
    """

    def _augment(self, x, chosen, rng, inplace):
        from minidl.kernels.image_twins import philox_normal

        def add_noise(images):
            b, c, h, w = images.shape
            sigma, key = _noise_draws(self, rng, b)
            channels = c if self.per_channel else 1
            noise = np.stack([philox_normal(channels * h * w, k.view(np.uint32)).reshape(channels, h, w)
                              for k in key]).astype(np.float32)
            return images + noise * sigma

        return self._on_chosen(add_noise, x, chosen, inplace, rng)


def with_philox_noise(augment):
    """``augment`` with every GaussianNoise replaced by its Philox twin (same parameters)."""
    def swap(step):
        if isinstance(step, OneOf):
            twin = OneOf([swap(m) for m in step.augmentations], p=step.p)
            twin.weights = step.weights
            return twin
        if type(step) is GaussianNoise:
            return PhiloxGaussianNoise(step.p, step.sigma, step.per_channel)
        return step
    return Compose([swap(s) for s in augment.augmentations]) if isinstance(augment, Compose) else swap(augment)

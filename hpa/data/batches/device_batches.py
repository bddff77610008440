"""Training batches that travel as uint8 and are augmented and normalised on the GPU.

    loader = on_device(BatchLoader(images, labels, indices, augment=..., mean=..., std=...))
    for x, y in device_batches(loader, "gpu"):     # x float32 (B, 4, S, S) on the device
        ...

The loader's threads gather the uint8 rows and draw each image's augmentation
from its own streams, exactly as the host loader does
(:mod:`hpa.data.augmentation.device_augment`); a batch is then the tuple

    (x uint8 (B, C, S, S), y float32 (B, 28), element, gain, factor, scale, shift,
     noise_amp, noise_key, noise_shared)

which :class:`minidl.DevicePrefetcher` copies (one quarter of float32's bytes
for the images), and :func:`device_batches` hands to the device's kernels
(:func:`minidl.kernels.image_ops.augment_images`). ``scale`` and ``shift`` are
the normalisation ``(x - mean) / std`` per image and channel (per data source
with ``groups``); ``noise_amp`` is the noise's sigma on that output scale.
"""
import copy

import numpy as np

import minidl as md
from hpa.data.augmentation.device_augment import device_plan, draw_parameters
from hpa.data.augmentation.streams import SampleStreams
from minidl.kernels.image_ops import augment_images


class DeviceAugmentMixin:
    """Makes a :class:`~hpa.data.batches.loader.BatchLoader` (or a subclass) yield uint8 images and
    the device's parameters instead of float batches. Made by :func:`on_device`."""

    device_steps = ()

    def make_batch(self, rows, epoch, slots, copies=None):
        ascending = np.argsort(rows, kind="stable")  # as BatchLoader.make_batch: read in file order
        x = np.ascontiguousarray(self.images[rows[ascending]][np.argsort(ascending)])
        streams = SampleStreams(np.random.default_rng([self.seed, epoch, 2, p]) for p in slots.tolist())
        p = draw_parameters(self.device_steps, streams, x.shape[1])
        scale, shift = (self._scale, self._shift) if self.groups is None else \
            (self._scale[self.groups[rows]], self._shift[self.groups[rows]])
        scale = np.ascontiguousarray(np.broadcast_to(scale.reshape(-1, x.shape[1]), p["gain"].shape))
        shift = np.ascontiguousarray(np.broadcast_to(shift.reshape(-1, x.shape[1]), p["gain"].shape))
        y = None if self.labels is None else self.labels[rows].astype(np.float32)
        amp = (p["noise_sigma"][:, None] * scale).astype(np.float32)
        return (x, y, p["element"], p["gain"], p["factor"], scale, shift, amp, p["noise_key"], p["noise_shared"])


def on_device(loader):
    """``loader`` made to yield uint8 batches that the device augments (a shallow copy with the
    mixin), or ``loader`` itself when some step must run on the host (see
    :mod:`hpa.data.augmentation.device_augment`), oversampled copies get augmentations of their own, or
    the images are not uint8."""
    steps = device_plan(loader.augment)
    copies = loader.copy_augment is not None and loader.copies_from < len(loader.indices)
    if steps is None or copies or loader.images.dtype != np.uint8:
        return loader
    twin = copy.copy(loader)
    twin.__class__ = type(f"DeviceAugmented{type(loader).__name__}", (DeviceAugmentMixin, type(loader)),
                          {"device_steps": steps})
    return twin


class device_batches:
    """Iterate ``loader`` on ``device``: float batches ``(x, y)`` whichever kind of batch it yields.

    A :class:`DeviceAugmentMixin` loader's uint8 batches are finished by the
    device's kernels; any other loader's float batches are only moved.
    """

    def __init__(self, loader, device=None):
        self.loader, self.device = loader, device

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for batch in md.DevicePrefetcher(self.loader, self.device):
            if len(batch) == 2:
                yield batch
            else:
                yield augment_images(batch[0], *batch[2:]), batch[1]

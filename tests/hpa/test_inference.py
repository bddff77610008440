"""Averaging at prediction time, checked on networks whose outputs are known exactly.

``hpa.predict`` and ``hpa.evaluate`` average sigmoid probabilities over several
checkpoints and, with ``--tta``, over the 8 flips and quarter turns of each
image. Stand-in networks with hand-computable outputs make every average a
number to compare with, not just a shape.
"""
import numpy as np
import pytest

import minidl as md
from hpa.evaluation.inference import mean_thresholds, predict_probs

SIZE = 6
META = {"image_size": SIZE, "mean": [0.0] * 4, "std": [255.0] * 4}  # batches are images / 255
SLOPES = np.arange(1, 29, dtype=np.float32)


class ConstantLogits(md.Module):
    """Logits ``c`` (28,) for every image."""

    def __init__(self, c):
        super().__init__()
        self.c = np.asarray(c, dtype=np.float32)

    def forward(self, x):
        return np.broadcast_to(self.c, (len(x), 28)).copy()


class TopLeftPixel(md.Module):
    """Logit k = (k + 1) * x[n, 0, 0, 0]: it sees which corner a view moved to the top left."""

    def forward(self, x):
        return x[:, 0, 0, 0][:, None] * SLOPES


def sigmoid(z):
    return 1 / (1 + np.exp(-np.asarray(z, dtype=np.float64)))


def corner_images():
    """Two images whose channel-0 corners hold distinct values; the rest is noise."""
    images = np.random.default_rng(0).integers(0, 256, (2, 4, SIZE, SIZE)).astype(np.uint8)
    corners = [(0, 0), (0, -1), (-1, -1), (-1, 0)]
    for n, values in enumerate([(10, 60, 130, 250), (200, 0, 90, 40)]):
        for (i, j), v in zip(corners, values):
            images[n, 0, i, j] = v
    return images, np.array([(10, 60, 130, 250), (200, 0, 90, 40)], dtype=np.float64)


def test_checkpoints_are_averaged_as_probabilities():
    a, b = np.linspace(-3, 3, 28), np.linspace(4, -2, 28)
    images = np.zeros((3, 4, SIZE, SIZE), dtype=np.uint8)
    probs = predict_probs([(ConstantLogits(a), META), (ConstantLogits(b), META)], images)
    expected = (sigmoid(a) + sigmoid(b)) / 2  # the mean of probabilities, not of logits
    np.testing.assert_allclose(probs, np.tile(expected, (3, 1)), rtol=1e-6)
    assert not np.allclose(probs, sigmoid((a + b) / 2), rtol=1e-3)


def test_tta_averages_the_eight_views():
    """The 8 symmetries of the square put each corner at the top left exactly twice,
    so the TTA probability is the mean over the 4 corners of sigma((k + 1) v / 255)."""
    images, corners = corner_images()
    plain = predict_probs([(TopLeftPixel(), META)], images, batch_size=1)
    np.testing.assert_allclose(plain, sigmoid(corners[:, :1] / 255 * SLOPES), rtol=1e-6)
    tta = predict_probs([(TopLeftPixel(), META)], images, batch_size=1, tta=True)
    expected = sigmoid(corners[:, :, None] / 255 * SLOPES).mean(axis=1)
    np.testing.assert_allclose(tta, expected, rtol=1e-6)


def test_tta_and_several_checkpoints_together():
    images, corners = corner_images()
    shift = np.full(28, -1.0)
    probs = predict_probs([(TopLeftPixel(), META), (ConstantLogits(shift), META)], images, tta=True)
    expected = (sigmoid(corners[:, :, None] / 255 * SLOPES).mean(axis=1) + sigmoid(shift)) / 2
    np.testing.assert_allclose(probs, expected, rtol=1e-6)


def test_thresholds_of_several_checkpoints_are_averaged():
    loaded = [(None, {"thresholds": [0.2] * 28}), (None, {"thresholds": [0.6] * 28}), (None, {})]
    np.testing.assert_allclose(mean_thresholds(loaded), 0.4, rtol=1e-6)
    np.testing.assert_array_equal(mean_thresholds(loaded, override=0.3), np.float32(0.3))
    assert mean_thresholds([(None, {})]).tolist() == [0.5] * 28


def test_images_of_another_size_are_refused():
    from hpa.runtime.errors import HpaError
    with pytest.raises(HpaError, match="expects 6 px"):
        predict_probs([(ConstantLogits(np.zeros(28)), META)], np.zeros((1, 4, 8, 8), dtype=np.uint8))

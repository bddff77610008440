"""SampleStreams: one random stream per image, so an image's augmentation never depends on its batch."""
import numpy as np
import pytest

from hpa.data.augmentation.names import AUGMENTATIONS, one_of_named
from hpa.data.augmentation.noise_blur import GaussianBlur
from hpa.data.augmentation.streams import SampleStreams
from hpa.runtime.errors import HpaError


def streams(slots, seed=7):
    return SampleStreams(np.random.default_rng([seed, 1, 2, p]) for p in slots)


def test_row_b_of_every_draw_comes_from_generator_b():
    got = streams([3, 5]).uniform(0, 1, (2, 4))
    for row, slot in zip(got, [3, 5]):
        np.testing.assert_array_equal(row, np.random.default_rng([7, 1, 2, slot]).uniform(0, 1, 4))
    assert streams([3, 5]).integers(0, 8, 2).dtype.kind == "i"
    assert streams([]).standard_normal((0, 3), dtype=np.float32).dtype == np.float32


def test_only_draws_for_the_chosen_images_and_then_for_all_again():
    s = streams(range(4))
    with s.only([True, False, True, False]):
        assert len(s) == 2 and s.random(2).shape == (2,)
    assert len(s) == 4
    with pytest.raises(HpaError, match="first dimension must run over the images"):
        s.random(3)


@pytest.mark.parametrize("name", [*AUGMENTATIONS, "wide blur"])
def test_each_augmentation_of_a_batch_is_that_of_its_images_alone(name):
    x = np.random.default_rng(0).integers(0, 256, (6, 4, 16, 16), dtype=np.uint8)
    # Wide blurs: kernels of several radii in one batch.
    augment = GaussianBlur(1.0, sigma=(0.1, 3.0)) if name == "wide blur" else AUGMENTATIONS[name][1]()
    batch = augment(x, streams(range(6)))
    alone = np.concatenate([augment(x[i:i + 1], streams([i])) for i in range(6)])
    assert batch.dtype == alone.dtype and np.array_equal(batch, alone)


def test_one_of_draws_for_every_member_whatever_the_neighbours_picked():
    x = np.random.default_rng(1).integers(0, 256, (8, 4, 16, 16), dtype=np.uint8)
    augment = one_of_named("brightness,noise,blur,crop")
    chosen = np.array([True, False] * 4)
    batch = augment.apply_to(x, chosen, streams(range(8)))
    alone = np.concatenate([augment.apply_to(x[i:i + 1], chosen[i:i + 1], streams([i])) for i in range(8)])
    assert np.array_equal(batch, alone)
    assert np.array_equal(batch[~chosen], x[~chosen].astype(np.float32))

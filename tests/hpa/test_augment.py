import numpy as np
import pytest

from hpa.data.augmentation.affine import MODES, Affine, RandomCrop, Rotate, affine_matrices, warp_affine
from hpa.data.augmentation.augment import Brightness, Compose, Contrast, Dihedral, default_augmentation, dihedral
from hpa.data.augmentation.noise_blur import GaussianBlur, GaussianNoise
from hpa.runtime.errors import HpaError


def batch(dtype=np.uint8, b=6, size=16, seed=0):
    """Random (b, 4, size, size) images with no symmetry."""
    return np.random.default_rng(seed).integers(0, 256, (b, 4, size, size)).astype(dtype)


def rng(seed=1):
    return np.random.default_rng(seed)


AUGMENTATIONS = [
    Dihedral(p=0.7),
    Rotate(p=0.7),
    Rotate(p=0.7, angles=range(0, 360, 45), mode="constant"),
    RandomCrop(p=0.7),
    Affine(p=0.7, mode="edge"),
    GaussianBlur(p=0.7),
    Brightness(p=0.7),
    Brightness(p=0.7, per_channel=True),
    Contrast(p=0.7),
    GaussianNoise(p=0.7),
    GaussianNoise(p=0.7, per_channel=False),
    Compose([Brightness(p=1), Contrast(p=1)]),
    default_augmentation(),
]
# Augmentations that treat the four channels identically.
SHARED = [a for a in AUGMENTATIONS if not getattr(a, "per_channel", False)]


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("aug", AUGMENTATIONS, ids=repr)
def test_shape_dtype_reproducible_and_input_untouched(aug, dtype):
    x = batch(dtype)
    before = x.copy()
    out = aug(x, rng(1))
    assert out.shape == x.shape
    assert out.dtype == (x.dtype if isinstance(aug, Dihedral) else np.float32)
    np.testing.assert_array_equal(out, aug(x, rng(1)))
    assert not np.array_equal(out, aug(x, rng(2)))
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("aug", SHARED, ids=repr)
def test_channels_move_together(aug):
    x = np.repeat(batch(b=8)[:, :1], 4, axis=1)  # four identical channels
    out = aug(x, rng())
    for c in range(1, 4):
        np.testing.assert_array_equal(out[:, c], out[:, 0])


@pytest.mark.parametrize("cls", [Dihedral, Rotate, RandomCrop, Affine, GaussianBlur, Brightness, Contrast,
                                 GaussianNoise])
def test_probability_zero_is_identity(cls):
    x = batch()
    np.testing.assert_array_equal(cls(p=0)(x, rng()), x)


def test_probability_picks_images_independently():
    x = batch(b=200)
    changed = (Brightness(p=0.3, factor=(2, 2))(x, rng()) != x).any(axis=(1, 2, 3))
    assert 40 < changed.sum() < 80


def test_dihedral_group_elements():
    img = batch(b=1)[0]
    results = [dihedral(img, g) for g in range(8)]
    assert len({r.tobytes() for r in results}) == 8
    np.testing.assert_array_equal(results[1], np.rot90(img, 1, axes=(1, 2)))
    np.testing.assert_array_equal(results[4], np.flip(img, axis=2))
    np.testing.assert_array_equal(results[6], np.flip(img, axis=1))


def test_dihedral_batch_matches_per_sample_numpy():
    x = batch(b=64)
    out = Dihedral(p=1)(x, rng())
    seen = set()
    for xi, oi in zip(x, out):
        matches = [g for g in range(8)
                   if np.array_equal(oi, np.flip(np.rot90(xi, g % 4, axes=(1, 2)), axis=2) if g >= 4
                                     else np.rot90(xi, g % 4, axes=(1, 2)))]
        assert len(matches) == 1  # the whole (4, S, S) image moved as one
        seen.update(matches)
    assert seen == set(range(8))


@pytest.mark.parametrize("angle, turns", [(90, 1), (180, 2), (-90, 3)])
def test_rotation_by_quarter_turns_matches_rot90(angle, turns):
    x = batch(size=20)
    out = Rotate(p=1, angles=[angle])(x, rng())
    expected = np.rot90(x, turns, axes=(2, 3))
    np.testing.assert_allclose(out[..., 2:-2, 2:-2], expected[..., 2:-2, 2:-2], atol=1e-3)


def test_rotation_by_45_keeps_centre_and_is_symmetric_for_symmetric_images():
    # A disc centred on the image is unchanged by any rotation, away from its edge.
    size = 33
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    disc = ((yy**2 + xx**2) < 8**2).astype(np.uint8) * 200
    x = np.broadcast_to(disc, (2, 4, size, size)).copy()
    out = Rotate(p=1, angles=[45], mode="constant")(x, rng())
    radius = np.hypot(yy, xx)
    far_from_edge = np.abs(radius - 8) > 1.5
    np.testing.assert_allclose(out[..., far_from_edge], x[..., far_from_edge], atol=1e-3)


@pytest.mark.parametrize("mode", MODES)
def test_identity_affine_is_identity(mode):
    x = batch()
    aug = Affine(p=1, degrees=(0, 0), scale=(1, 1), shear=(0, 0), translate=(0, 0), mode=mode)
    np.testing.assert_array_equal(aug(x, rng()), x)
    np.testing.assert_array_equal(RandomCrop(p=1, scale=(1, 1))(x, rng()), x)


def test_affine_translation_and_border_modes():
    x = batch(b=2)
    right = np.repeat(affine_matrices(16, 16, tx=3), 2, axis=0)
    shifted = warp_affine(x, right, "constant")
    np.testing.assert_array_equal(shifted[..., 3:], x[..., :-3])
    assert (shifted[..., :3] == 0).all()
    np.testing.assert_array_equal(warp_affine(x, right, "edge")[..., :3], np.repeat(x[..., :1], 3, axis=-1))
    np.testing.assert_array_equal(warp_affine(x, right, "reflect")[..., :3], x[..., 2::-1])


def test_affine_zoom_about_centre():
    x = batch(b=1, size=17)
    zoomed = warp_affine(x, affine_matrices(17, 17, scale=2.0), "constant")
    # The centre pixel stays put; its neighbour two pixels right came from one pixel right.
    np.testing.assert_allclose(zoomed[..., 8, 8], x[..., 8, 8])
    np.testing.assert_allclose(zoomed[..., 8, 10], x[..., 8, 9])


def test_random_crop_zooms_in():
    x = np.zeros((4, 4, 32, 32), np.uint8)
    x[..., ::2] = 255  # one-pixel stripes: a zoom spreads them out
    out = RandomCrop(p=1, scale=(0.5, 0.5))(x, rng())
    assert np.abs(np.diff(out, axis=-1)).mean() < 0.75 * np.abs(np.diff(x.astype(float), axis=-1)).mean()


def test_blur_preserves_mean_and_matches_separable_reference():
    x = batch(np.float32, size=24)
    out = GaussianBlur(p=1, sigma=(1.0, 1.0))(x, rng())
    np.testing.assert_allclose(out.mean(axis=(2, 3)), x.mean(axis=(2, 3)), rtol=0.02)
    assert out.std() < x.std()
    taps = np.arange(-3, 4)
    kernel = np.exp(-0.5 * taps**2)
    kernel /= kernel.sum()
    rows = np.apply_along_axis(np.convolve, 3, x.astype(float), kernel, mode="same")
    reference = np.apply_along_axis(np.convolve, 2, rows, kernel, mode="same")
    np.testing.assert_allclose(out[..., 3:-3, 3:-3], reference[..., 3:-3, 3:-3], rtol=1e-4, atol=1e-3)
    flat = np.full((2, 4, 10, 10), 77, np.uint8)
    np.testing.assert_allclose(GaussianBlur(p=1)(flat, rng()), 77, rtol=1e-5)


def test_brightness_and_contrast():
    x = batch(np.float32)
    np.testing.assert_allclose(Brightness(p=1, factor=(2, 2))(x, rng()), 2 * x)
    gains = Brightness(p=1, per_channel=True)(x + 1, rng()) / (x + 1)
    assert np.ptp(gains[0, 0]) < 1e-4 and np.ptp(gains[0, :, 0, 0]) > 0
    stretched = Contrast(p=1, factor=(1.5, 1.5))(x, rng())
    np.testing.assert_allclose(stretched.mean(axis=(2, 3)), x.mean(axis=(2, 3)), rtol=1e-4)
    np.testing.assert_allclose(stretched.std(axis=(2, 3)), 1.5 * x.std(axis=(2, 3)), rtol=1e-4)


def test_noise_strength_and_channel_sharing():
    x = batch(np.float32, b=4, size=32)
    noise = GaussianNoise(p=1, sigma=(5, 5))(x, rng()) - x
    assert abs(noise.std() - 5) < 0.3
    assert not np.allclose(noise[:, 0], noise[:, 1])
    shared = GaussianNoise(p=1, sigma=(5, 5), per_channel=False)(x, rng()) - x
    np.testing.assert_allclose(shared[:, 0], shared[:, 3], atol=1e-3)


def test_compose_runs_steps_in_order_and_empty_is_identity():
    x = batch(np.float32)
    np.testing.assert_allclose(Compose([Brightness(p=1, factor=(2, 2)), lambda v, r: v + 1])(x, rng()), 2 * x + 1)
    assert Compose([])(x, rng()) is x


@pytest.mark.parametrize("make, name", [
    (lambda: Brightness(p=1.5), "p"),
    (lambda: Brightness(p="high"), "p"),
    (lambda: Brightness(factor=(1.2, 0.8)), "factor"),
    (lambda: Contrast(factor=3), "factor"),
    (lambda: GaussianBlur(sigma=(-1, 1)), "sigma"),
    (lambda: Rotate(mode="wrap"), "mode"),
    (lambda: Rotate(angles=[]), "angles"),
    (lambda: RandomCrop(scale=(0.5, 1.5)), "scale"),
    (lambda: Compose([3]), "augmentations"),
])
def test_bad_parameters_raise_hpa_error(make, name):
    with pytest.raises(HpaError, match=f"^{name}:"):
        make()


def test_bad_batches_raise_hpa_error():
    with pytest.raises(HpaError, match="^x:"):
        Brightness()(np.zeros((4, 16, 16), np.uint8), rng())
    with pytest.raises(HpaError, match="^x:.*dtype"):
        Brightness()(np.zeros((1, 4, 16, 16), np.int64), rng())
    with pytest.raises(HpaError, match="^x:.*square"):
        Dihedral()(np.zeros((1, 4, 16, 12), np.uint8), rng())
    with pytest.raises(HpaError, match="^rng:"):
        Brightness()(batch(), 0)
    with pytest.raises(HpaError, match="^matrices:"):
        warp_affine(batch(), np.zeros((2, 2, 3)))

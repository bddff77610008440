"""Stretching 16-bit originals per image instead of the fixed /257, on a dim 12-bit-range TIFF."""
import numpy as np
import pytest
from PIL import Image

from hpa.data.cache.source import cached_images
from hpa.data.reading.imageio import parse_intensity, read_channel, read_sample
from hpa.data.reading.labels import CHANNELS
from hpa.runtime.errors import HpaError


def dim_tiff(path, seed=0):
    """A 16-bit TIFF whose values fill only 0..4095 (a 12-bit camera), one hot pixel at 4095."""
    rng = np.random.default_rng(seed)
    plane = rng.integers(0, 2000, (64, 64)).astype(np.uint16)
    plane[5, 7] = 4095
    Image.fromarray(plane).save(path)
    return plane


def test_fixed_division_leaves_a_12_bit_image_dim(tmp_path):
    plane = dim_tiff(tmp_path / "a.tif")
    fixed = read_channel(tmp_path / "a.tif", "green")
    np.testing.assert_array_equal(fixed, (plane.astype(np.int64) + 128) // 257)
    assert fixed.max() == 16


def test_stretch_by_maximum(tmp_path):
    plane = dim_tiff(tmp_path / "a.tif")
    out = read_channel(tmp_path / "a.tif", "green", "max")
    np.testing.assert_array_equal(out, np.rint(plane * (255 / 4095)).astype(np.uint8))
    assert out.max() == 255 and out[5, 7] == 255


def test_stretch_by_percentile_clips_the_hot_pixel(tmp_path):
    plane = dim_tiff(tmp_path / "a.tif")
    top = np.percentile(plane.astype(np.int64), 99)
    out = read_channel(tmp_path / "a.tif", "green", "percentile:99")
    expected = np.clip(np.rint(plane * (255 / top)), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(out, expected)
    assert out[5, 7] == 255 and (out == 255).mean() == pytest.approx(0.01, abs=0.005)
    # Brighter than the maximum stretch, since the hot pixel no longer sets the scale.
    assert out.mean() > read_channel(tmp_path / "a.tif", "green", "max").mean()


def test_a_black_image_stays_black(tmp_path):
    Image.fromarray(np.zeros((8, 8), np.uint16)).save(tmp_path / "z.tif")
    assert read_channel(tmp_path / "z.tif", "red", "max").max() == 0


@pytest.mark.parametrize("text", ["loud", "max:3", "percentile:0", "percentile:abc", "percentile:101"])
def test_bad_intensity_is_refused(text):
    with pytest.raises(HpaError, match="--intensity"):
        parse_intensity(text)


def test_each_rule_has_its_own_cache(tmp_path):
    data = tmp_path / "data"
    (data / "train").mkdir(parents=True)
    for colour in CHANNELS:
        dim_tiff(data / "train" / f"s1_{colour}.tif")
    (data / "train.csv").write_text("Id,Target\ns1,0\n")
    fixed = cached_images(data, 32, root=tmp_path / "c", workers=1, progress=False)
    stretched = cached_images(data, 32, root=tmp_path / "c", workers=1, progress=False, intensity="max")
    assert fixed.path != stretched.path
    assert fixed.images.max() <= 16 and stretched.images.max() > 100
    paths = [data / "train" / f"s1_{c}.tif" for c in CHANNELS]
    np.testing.assert_array_equal(read_sample(paths, "s1", "max")[0], read_channel(paths[0], "red", "max"))

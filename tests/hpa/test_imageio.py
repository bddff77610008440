"""Tests for hpa.data.reading.imageio: every file mode to uint8 (4, H, W), errors, resize_area."""
import os

import numpy as np
import pytest
from PIL import Image
from real_files import EXTERNAL_DIR

from hpa.data.reading.imageio import read_channel, read_sample, resize_area
from hpa.data.reading.labels import CHANNELS
from hpa.runtime.errors import HpaError

REAL_EXTERNAL = str(EXTERNAL_DIR)


def write_planes(folder, sample_id, planes, ext=".png"):
    """Save each 2-D array of ``planes`` as ``<Id>_<colour><ext>``; return the paths."""
    paths = []
    for channel, plane in zip(CHANNELS, planes):
        path = os.path.join(folder, f"{sample_id}_{channel}{ext}")
        Image.fromarray(plane).save(path)
        paths.append(path)
    return paths


def stain_rgb(plane, channel, rng):
    """Colour a uint8 plane like its stain, with faint noise in the other planes."""
    rgb = rng.integers(0, 4, size=plane.shape + (3,), dtype=np.uint8)
    for p in {"red": (0,), "green": (1,), "blue": (2,), "yellow": (0, 1)}[channel]:
        rgb[:, :, p] = plane
    return rgb


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_kaggle_grayscale_png_roundtrip(tmp_path, rng):
    planes = rng.integers(0, 256, size=(4, 24, 40), dtype=np.uint8)
    img = read_sample(write_planes(tmp_path, "a", planes), "a")
    assert img.dtype == np.uint8 and img.shape == (4, 24, 40)
    np.testing.assert_array_equal(img, planes)


def test_external_rgb_png_takes_stain_plane(tmp_path, rng):
    planes = rng.integers(0, 256, size=(4, 16, 16), dtype=np.uint8)
    rgb = [stain_rgb(p, c, rng) for p, c in zip(planes, CHANNELS)]
    img = read_sample(write_planes(tmp_path, "x", rgb), "x")
    np.testing.assert_array_equal(img, planes)


def test_yellow_is_rounded_mean_of_red_and_green(tmp_path):
    rgb = np.zeros((2, 2, 3), dtype=np.uint8)
    rgb[..., 0], rgb[..., 1] = [[10, 255], [0, 4]], [[11, 255], [1, 8]]
    path = tmp_path / "s_yellow.png"
    Image.fromarray(rgb).save(path)
    np.testing.assert_array_equal(read_channel(path, "yellow"), [[11, 255], [1, 6]])


def test_external_jpeg_is_close_to_original(tmp_path, rng):
    # Smooth content so JPEG loss stays small.
    ramp = np.add.outer(np.arange(64), np.arange(64)).astype(np.uint8) * 2
    rgb = [stain_rgb(ramp, c, rng) for c in CHANNELS]
    paths = write_planes(tmp_path, "j", rgb, ext=".jpg")
    img = read_sample(paths, "j")
    assert img.shape == (4, 64, 64)
    assert np.abs(img.astype(int) - ramp).mean() < 4


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_16_bit_scaled_by_257(tmp_path, ext):
    wide = np.array([[0, 128, 129, 257], [385, 386, 65279, 65535]], dtype=np.uint16)
    path = tmp_path / f"s_green{ext}"
    Image.fromarray(wide).save(path)
    assert Image.open(path).mode.startswith("I;16")
    np.testing.assert_array_equal(read_channel(path, "green"), [[0, 0, 1, 1], [1, 2, 254, 255]])


def test_32_bit_integer_tiff_is_clipped_then_scaled(tmp_path):
    path = tmp_path / "s_blue.tif"
    Image.fromarray(np.array([[-5, 514, 70000]], dtype=np.int32)).save(path)
    assert Image.open(path).mode == "I"
    np.testing.assert_array_equal(read_channel(path, "blue"), [[0, 2, 255]])


def test_float_image_refused_with_file_name(tmp_path):
    path = tmp_path / "s_red.tif"
    Image.fromarray(np.ones((4, 4), np.float32)).save(path)
    with pytest.raises(HpaError, match=r"s_red\.tif: unsupported image mode 'F'"):
        read_channel(path, "red")


def test_missing_channel_file_named(tmp_path, rng):
    paths = write_planes(tmp_path, "m", rng.integers(0, 256, size=(4, 8, 8), dtype=np.uint8))
    os.remove(paths[3])
    with pytest.raises(HpaError, match=r"sample m: missing yellow channel file .*m_yellow\.png"):
        read_sample(paths, "m")


def test_truncated_png_named(tmp_path, rng):
    paths = write_planes(tmp_path, "t", rng.integers(0, 256, size=(4, 64, 64), dtype=np.uint8))
    data = open(paths[1], "rb").read()
    with open(paths[1], "wb") as f:
        f.write(data[: len(data) // 2])
    with pytest.raises(HpaError, match=r"t_green\.png: unreadable image"):
        read_sample(paths, "t")


def test_not_an_image_named(tmp_path):
    path = tmp_path / "n_blue.png"
    path.write_text("hello")
    with pytest.raises(HpaError, match=r"n_blue\.png: unreadable image"):
        read_channel(path, "blue")


def test_channels_of_different_sizes_named(tmp_path, rng):
    planes = [rng.integers(0, 256, size=s, dtype=np.uint8) for s in [(8, 8)] * 3 + [(8, 6)]]
    with pytest.raises(HpaError, match=r"sample d: .*different sizes.*red 8x8.*yellow 6x8"):
        read_sample(write_planes(tmp_path, "d", planes), "d")


def test_error_messages_are_one_line(tmp_path):
    path = tmp_path / "z_red.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    with pytest.raises(HpaError) as info:
        read_channel(path, "red")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("size", [16, 8, 1])
def test_resize_area_block_mean_exact(rng, size):
    img = rng.integers(0, 256, size=(4, 32, 32), dtype=np.uint8)
    f = 32 // size
    mean = img.reshape(4, size, f, size, f).astype(np.float64).mean(axis=(2, 4))
    out = resize_area(img, size)
    assert out.dtype == np.uint8 and out.shape == (4, size, size)
    np.testing.assert_array_equal(out, np.floor(mean + 0.5))


def test_resize_area_other_sizes_use_box_filter(rng):
    img = rng.integers(0, 256, size=(4, 30, 20), dtype=np.uint8)
    out = resize_area(img, 7)
    assert out.shape == (4, 7, 7)
    box = Image.fromarray(img[2]).resize((7, 7), Image.Resampling.BOX)
    np.testing.assert_array_equal(out[2], np.asarray(box))


def test_resize_area_same_size_and_bad_input(rng):
    img = rng.integers(0, 256, size=(4, 8, 8), dtype=np.uint8)
    assert resize_area(img, 8) is img
    with pytest.raises(HpaError, match="uint8"):
        resize_area(img.astype(np.float32), 4)


def test_real_external_sample():
    paths = [os.path.join(REAL_EXTERNAL, f"800_A6_1_{c}.jpg") for c in CHANNELS]
    if not all(os.path.exists(p) for p in paths):
        pytest.skip("real HPA external sample not available")
    img = read_sample(paths, "800_A6_1")
    assert img.dtype == np.uint8 and img.shape == (4, 2048, 2048)
    means = img.reshape(4, -1).mean(axis=1)
    # Every stain shows something, nothing is saturated, and the nucleus
    # stain (blue) covers less of the field than the cytoplasmic ones.
    assert np.all((means > 5) & (means < 150)), means
    assert means[2] < means[0] and means[2] < means[3]
    assert img.reshape(4, -1).max(axis=1).min() > 200
    # Distinct stains, not one plane repeated.
    small = resize_area(img, 256).reshape(4, -1).astype(np.float64)
    assert np.corrcoef(small)[0, 2] < 0.95

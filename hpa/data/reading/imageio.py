"""Read one 4-channel sample from disk and shrink it by area averaging.

A sample is four image files, one per stain, named ``<Id>_<colour>.<ext>``.
Whatever the file format, :func:`read_sample` returns a uint8 array of shape
(4, H, W) in the channel order of :data:`hpa.data.reading.labels.CHANNELS`
(red, green, blue, yellow).

How each file mode becomes one 8-bit plane:

* ``"L"`` (Kaggle, 8-bit grayscale): used as is.
* ``"RGB"``/``"RGBA"``/``"P"`` (HPA external data): each channel is stored
  coloured like its stain, so the plane of that colour is taken (R for red,
  G for green, B for blue). Yellow is stored in R and G at equal strength;
  the rounded *mean* of the two is taken because it halves the JPEG noise,
  which a max would amplify.
* ``"I;16*"``/``"I"`` (16-bit originals), by ``intensity``
  (:func:`parse_intensity`):

  - ``"fixed"`` (default): divided by 257 and rounded, which maps 0..65535
    exactly onto 0..255. A fixed divisor keeps brightness comparable between
    images, but a dim original (a 12-bit camera fills only 0..4095) ends up in
    0..16 and loses most of its levels.
  - ``"max"``: each file stretched so its own maximum becomes 255:
    ``round(v * 255 / max)``.
  - ``"percentile"`` or ``"percentile:P"``: stretched so its P-th percentile
    (default 99.9) becomes 255, brighter pixels clipped: one hot pixel cannot
    dim the rest, as it can with ``"max"``.
* ``"1"``/``"LA"``: converted to ``"L"``.

Any other mode (e.g. float ``"F"``) is refused with an :class:`HpaError`.

Files come from others, so a file is decoded only as one of
:data:`IMAGE_FORMATS`, whatever its content claims (Pillow would otherwise
pick the decoder from the content: an EPS file named ``x_red.png`` would go
to Ghostscript), and only when its header declares at most
:data:`MAX_PIXELS` pixels. A 16-bit plane becomes 8-bit in blocks of rows,
so decoding costs about 2 bytes per pixel for the decoded plane plus 1 for
the result (and 2 more for the ``percentile`` rule's partition).
"""
import os
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from hpa.data.reading.labels import CHANNELS
from hpa.runtime.errors import HpaError

# Which RGB planes carry each stain in the coloured external-data files.
_STAIN_PLANES = {"red": (0,), "green": (1,), "blue": (2,), "yellow": (0, 1)}


# The formats the data layouts use (Kaggle PNG, HPA external JPEG/PNG, 16-bit TIFF originals).
IMAGE_FORMATS = ("PNG", "JPEG", "TIFF")
# Largest plane accepted (8192 x 8192; HPA originals are 2048 or 3072 px square).
MAX_PIXELS = 8192 * 8192
# Rows converted at a time from 16 to 8 bits: the wide temporaries stay small.
_BLOCK_ROWS = 256

INTENSITIES = ("fixed", "max", "percentile")
DEFAULT_PERCENTILE = 99.9


def parse_intensity(text):
    """``"fixed"``, ``"max"``, ``"percentile"`` or ``"percentile:P"`` -> (mode, P or None)."""
    mode, _, value = str(text).partition(":")
    if mode not in INTENSITIES or (value and mode != "percentile"):
        raise HpaError(f"--intensity {text!r}: expected fixed, max, percentile or percentile:P")
    if mode != "percentile":
        return mode, None
    try:
        p = float(value) if value else DEFAULT_PERCENTILE
    except ValueError:
        p = -1.0
    if not 0 < p <= 100:
        raise HpaError(f"--intensity {text!r}: the percentile must be in (0, 100]")
    return mode, p


def _stretch16(plane, intensity):
    """16-bit values (H, W) (uint16, or int32 for mode "I") -> uint8 by the ``intensity`` rule of the module doc.

    Works on blocks of :data:`_BLOCK_ROWS` rows, so the wide intermediates
    (uint32 or float64) cost a few rows, not a few copies of the plane.
    """
    mode, p = parse_intensity(intensity)
    if plane.dtype != np.uint16:  # mode "I": 32-bit, clipped to the 16-bit range once
        plane = np.clip(plane, 0, 65535).astype(np.uint16)
    out = np.empty(plane.shape, np.uint8)
    if mode == "fixed":
        for top in range(0, plane.shape[0], _BLOCK_ROWS):
            block = plane[top:top + _BLOCK_ROWS].astype(np.uint32)
            out[top:top + _BLOCK_ROWS] = (block + 128) // 257
        return out
    top_value = float(plane.max()) if mode == "max" else float(np.percentile(plane, p))
    if top_value <= 0:
        out[:] = 0
        return out
    scale = 255.0 / top_value
    for top in range(0, plane.shape[0], _BLOCK_ROWS):
        out[top:top + _BLOCK_ROWS] = np.clip(np.rint(plane[top:top + _BLOCK_ROWS] * scale), 0, 255)
    return out


def read_channel(path, channel, intensity="fixed"):
    """Read one channel file as a uint8 array of shape (H, W).

    ``channel`` is one of :data:`CHANNELS`; it selects the colour plane when
    the file is an RGB image coloured like its stain. ``intensity`` says how
    16-bit files become 8-bit (module doc).
    """
    try:
        with warnings.catch_warnings():  # Pillow warns of big images; MAX_PIXELS decides here, in one line
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path, formats=IMAGE_FORMATS)
        with im:
            # open() only parses the header; load() decodes and is what
            # notices a truncated or corrupt file.
            width, height = im.size
            if width * height > MAX_PIXELS:
                raise HpaError(f"{path}: {width * height} pixels ({width}x{height}), more than the "
                               f"{MAX_PIXELS} an image may have here")
            im.load()
            return _to_uint8(im, channel, path, intensity)
    except HpaError:
        raise
    except FileNotFoundError:
        raise HpaError(f"{path}: file not found") from None
    except UnidentifiedImageError:  # the content is of no allowed format, whatever the name says
        raise HpaError(f"{path}: unreadable image (its content is not a PNG, JPEG or TIFF image)") from None
    except Exception as err:  # PIL raises many types for a bad file
        reason = " ".join(str(err)[:300].split()) or type(err).__name__
        raise HpaError(f"{path}: unreadable image ({reason})") from None


def _to_uint8(im, channel, path, intensity="fixed"):
    """Decoded PIL image -> uint8 (H, W) following the rules in the module doc."""
    mode = im.mode
    if mode in ("1", "LA"):
        im, mode = im.convert("L"), "L"
    elif mode == "P":
        im, mode = im.convert("RGB"), "RGB"
    if mode == "L":
        return np.asarray(im, dtype=np.uint8)
    if mode in ("RGB", "RGBA"):
        rgb = np.asarray(im)
        planes = _STAIN_PLANES[channel]
        if len(planes) == 1:
            return np.ascontiguousarray(rgb[:, :, planes[0]])
        a, b = (rgb[:, :, p].astype(np.uint16) for p in planes)
        return ((a + b + 1) >> 1).astype(np.uint8)
    if mode.startswith("I;16") or mode == "I":
        return _stretch16(np.asarray(im), intensity)
    raise HpaError(f"{path}: unsupported image mode {mode!r} (expected 8-bit, RGB or 16-bit)")


def read_sample(paths, sample_id, intensity="fixed"):
    """Read the four channel files ``paths`` (red, green, blue, yellow order).

    Returns uint8 (4, H, W). Raises :class:`HpaError` naming the file when one
    is missing or unreadable, and naming ``sample_id`` when the channels do
    not all have the same size.
    """
    if len(paths) != len(CHANNELS):
        raise HpaError(f"sample {sample_id}: expected {len(CHANNELS)} channel files, got {len(paths)}")
    for path, channel in zip(paths, CHANNELS):
        if not os.path.isfile(path):
            raise HpaError(f"sample {sample_id}: missing {channel} channel file {path}")
    planes = [read_channel(p, c, intensity) for p, c in zip(paths, CHANNELS)]
    shapes = {p.shape for p in planes}
    if len(shapes) > 1:
        sizes = ", ".join(f"{c} {p.shape[1]}x{p.shape[0]}" for c, p in zip(CHANNELS, planes))
        raise HpaError(f"sample {sample_id}: channels have different sizes ({sizes})")
    return np.stack(planes)


def resize_area(img, size):
    """Shrink uint8 (C, H, W) to uint8 (C, size, size) by area averaging.

    When H and W are multiples of ``size`` (512 -> 256 or 128) every output
    pixel is the exact rounded mean of its block. Otherwise PIL's BOX filter,
    which weights partially covered pixels by their overlap, does the same
    job per channel. An image already at ``size`` is returned as is (no copy).
    """
    img = np.asarray(img)
    if img.ndim != 3 or img.dtype != np.uint8:
        raise HpaError(f"resize_area expects a uint8 (C, H, W) array, got {img.dtype} {img.shape}")
    if size < 1:
        raise HpaError(f"resize size must be at least 1, got {size}")
    c, h, w = img.shape
    if (h, w) == (size, size):
        return img
    if h % size == 0 and w % size == 0:
        return _block_mean(img, h // size, w // size)
    out = np.empty((c, size, size), dtype=np.uint8)
    for k in range(c):
        out[k] = np.asarray(Image.fromarray(img[k]).resize((size, size), Image.Resampling.BOX))
    return out


def _block_mean(img, fh, fw):
    """Rounded mean of each fh x fw block of uint8 (C, H, W) -> (C, H/fh, W/fw).

    Adding the fh rows (then fw columns) of every block as whole strided
    planes costs fh + fw vectorised passes, many times faster than a
    ``reshape(...).sum(axis=(2, 4))`` reduction over short inner axes.
    """
    c, h, w = img.shape
    n = fh * fw
    # The narrowest unsigned type (at least uint16) that holds the largest
    # block sum plus the rounding term: uint16 up to 16x16 blocks.
    acc = np.promote_types(np.min_scalar_type(n * 255 + n // 2), np.uint16)
    rows = img.reshape(c, h // fh, fh, w)
    sums = rows[:, :, 0, :].astype(acc)
    for j in range(1, fh):
        sums += rows[:, :, j, :]
    cols = sums.reshape(c, h // fh, w // fw, fw)
    total = cols[..., 0].copy()
    for j in range(1, fw):
        total += cols[..., j]
    return ((total + n // 2) // n).astype(np.uint8)

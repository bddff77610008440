"""Affine warps: the resampling engine and the augmentations built on it.

The engine is :func:`warp_affine`: every output pixel is mapped through a
per-image 2x3 matrix to a point of the input image, whose value is read with
bilinear interpolation. The grids of the whole batch are built and gathered
at once. :func:`affine_matrices` builds those matrices from a zoom, shear,
rotation and shift about the image centre.

Coordinates: pixel (row i, column j) has its centre at x = j, y = i, with y
growing downward. A positive angle turns the image counter-clockwise as
displayed, the same way as ``np.rot90(img, 1, axes=(-2, -1))``.

:class:`Rotate`, :class:`RandomCrop` and :class:`Affine` are augmentations in
the sense of :mod:`hpa.data.augmentation.augment`: each chosen image gets its own random
matrix, and the result is float32 on the input's 0..255 scale.
"""
import numpy as np

from hpa.data.augmentation.augment import Augmentation, check_batch, check_range
from hpa.runtime.errors import HpaError

MODES = ("constant", "reflect", "edge")


def _check_mode(mode):
    if mode not in MODES:
        raise HpaError(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")
    return mode


def affine_matrices(height, width, angle=0.0, scale=1.0, shear=0.0, tx=0.0, ty=0.0):
    """Sampling matrices for a batch of affine motions about the image centre.

    Arguments are numbers or arrays of shape (B,): ``angle`` and ``shear`` in
    degrees (shear slants the image horizontally), ``scale`` a zoom factor,
    ``tx``/``ty`` a shift in pixels (right/down). The visible motion is: zoom,
    shear, rotate, then shift.

    Returns float64 (B, 2, 3), mapping output (x, y, 1) to input (x, y): the
    inverse of the motion, which is what :func:`warp_affine` needs.
    """
    angle, scale, shear, tx, ty = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, np.float64))
                                                        for v in (angle, scale, shear, tx, ty)))
    theta, phi = np.deg2rad(angle), np.deg2rad(shear)
    cos, sin = np.cos(theta), np.sin(theta)
    # In (x, y-down) coordinates, [[cos, sin], [-sin, cos]] turns counter-clockwise on screen.
    rotate = np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], -2)
    slant = np.zeros(rotate.shape)
    slant[:, 0, 0] = slant[:, 1, 1] = 1
    slant[:, 0, 1] = np.tan(phi)
    forward = rotate @ slant * scale[:, None, None]
    inverse = np.linalg.inv(forward)
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    shift = np.stack([tx, ty], -1)
    offset = centre - np.einsum("bij,bj->bi", inverse, centre + shift)
    return np.concatenate([inverse, offset[:, :, None]], axis=2)


def warp_affine(x, matrices, mode="reflect"):
    """Resample every image through its own affine map, bilinearly.

    x: (B, C, H, W) uint8 or float32.
    matrices: (B, 2, 3). The output pixel at (x=j, y=i) takes the input value
        at the point ``matrices[b] @ (j, i, 1)``, in input pixel coordinates.
    mode: what points outside the input read. "constant": 0, the black
        background of HPA images; "reflect": the image mirrored at its border
        (border pixel repeated); "edge": the nearest border pixel.

    Returns float32 (B, C, H, W). All channels are sampled at the same points.
    """
    check_batch(x)
    _check_mode(mode)
    b, _, h, w = x.shape
    matrices = np.asarray(matrices, np.float64)
    if matrices.shape != (b, 2, 3):
        raise HpaError(f"matrices: expected shape ({b}, 2, 3), got {matrices.shape}")
    m = matrices.astype(np.float32)[:, :, :, None, None]  # (B, 2, 3, 1, 1)
    cols = np.arange(w, dtype=np.float32)
    rows = np.arange(h, dtype=np.float32)[:, None]
    # An affine map is separable in j and i, so each coordinate is the sum
    # of a (B, 1, W) and a (B, H, 1) array: one pass over the grid.
    px = m[:, 0, 0] * cols + (m[:, 0, 1] * rows + m[:, 0, 2])
    py = m[:, 1, 0] * cols + (m[:, 1, 1] * rows + m[:, 1, 2])
    return _bilinear(x, px, py, mode)


def _corners(p, size, mode):
    """The two pixels either side of each coordinate ``p`` along one axis.

    Returns ((low, high) valid integer indices, (low, high) float32 weights);
    for mode "constant" the weight of a pixel outside the image is 0.
    """
    if mode == "reflect":
        # Mirror into [-0.5, size - 0.5]; clipping the corners below then
        # repeats the border pixel, as symmetric padding would.
        p = size - 0.5 - np.abs((p + 0.5) % (2 * size) - size)
    elif mode == "edge":
        p = np.clip(p, 0, size - 1)
    low = np.floor(p)
    w_high = (p - low).astype(np.float32)
    w_low = 1 - w_high
    low = low.astype(np.intp)
    high = low + 1
    if mode == "constant":
        w_low *= (low >= 0) & (low < size)
        w_high *= (high >= 0) & (high < size)
    return (np.clip(low, 0, size - 1), np.clip(high, 0, size - 1)), (w_low, w_high)


def _bilinear(x, px, py, mode):
    """Read ``x`` (B, C, H, W) at points ``px``, ``py`` (B, H', W') -> float32 (B, C, H', W')."""
    b, c, h, w = x.shape
    # Pixels as rows of C values: one index fetches every channel of a point.
    pixels = x.transpose(0, 2, 3, 1).reshape(b * h * w, c)
    first = (np.arange(b) * (h * w)).reshape(b, 1, 1)
    (y0, y1), (wy0, wy1) = _corners(py, h, mode)
    (x0, x1), (wx0, wx1) = _corners(px, w, mode)
    out = np.zeros((px.size, c), np.float32)
    for rows, wy in ((y0, wy0), (y1, wy1)):
        row_start = first + rows * w
        for cols, wx in ((x0, wx0), (x1, wx1)):
            values = np.take(pixels, (row_start + cols).reshape(-1), axis=0)
            out += (wy * wx).reshape(-1, 1) * values
    return np.ascontiguousarray(out.reshape(*px.shape, c).transpose(0, 3, 1, 2))


class Rotate(Augmentation):
    """Rotate about the image centre by a random angle (degrees).

    The angle is uniform in ``degrees``, or, if ``angles`` is given, picked
    uniformly from that set (e.g. ``angles=range(0, 360, 45)`` for the
    45-degree steps used by several HPA solutions). Corners uncovered by the
    rotation are filled according to ``mode`` (see :func:`warp_affine`).
    """

    def __init__(self, p=0.5, degrees=(-180.0, 180.0), angles=None, mode="reflect"):
        super().__init__(p)
        self.degrees = check_range(degrees, "degrees")
        if angles is not None:
            try:
                angles = np.asarray(list(angles), np.float64)
            except (TypeError, ValueError):
                raise HpaError(f"angles: expected a sequence of numbers, got {angles!r}") from None
            if angles.ndim != 1 or len(angles) == 0 or not np.isfinite(angles).all():
                raise HpaError(f"angles: expected a non-empty sequence of finite numbers, got {angles!r}")
        self.angles = angles
        self.mode = _check_mode(mode)

    def _augment(self, x, chosen, rng, inplace):
        def warp(images):
            if self.angles is None:
                angle = rng.uniform(*self.degrees, len(images))
            else:
                angle = rng.choice(self.angles, len(images))
            matrices = affine_matrices(images.shape[2], images.shape[3], angle=angle)
            return warp_affine(images, matrices, self.mode)

        return self._on_chosen(warp, x, chosen, inplace, rng)


class RandomCrop(Augmentation):
    """Cut a random square-proportioned window and resize it back to full size.

    The window's sides are a random fraction ``scale`` of the image's sides
    (same fraction for height and width, so shapes are not distorted), placed
    uniformly inside the image. Resizing is bilinear.
    """

    def __init__(self, p=0.5, scale=(0.6, 1.0)):
        super().__init__(p)
        self.scale = check_range(scale, "scale", 0.01, 1)

    def _augment(self, x, chosen, rng, inplace):
        def warp(images):
            b, _, h, w = images.shape
            k = rng.uniform(*self.scale, b)
            left = rng.random(b) * w * (1 - k)
            top = rng.random(b) * h * (1 - k)
            matrices = np.zeros((b, 2, 3))
            matrices[:, 0, 0] = matrices[:, 1, 1] = k
            # Pixel centres: output centre j + 0.5 lands at left + k * (j + 0.5).
            matrices[:, 0, 2] = left + 0.5 * k - 0.5
            matrices[:, 1, 2] = top + 0.5 * k - 0.5
            return warp_affine(images, matrices, "edge")

        return self._on_chosen(warp, x, chosen, inplace, rng)


class Affine(Augmentation):
    """Random zoom, shear, rotation and shift about the image centre.

    ``scale``: zoom factor range; ``shear`` and ``degrees``: angle ranges in
    degrees; ``translate``: shift range as a fraction of the image size, drawn
    separately for x and y. Each parameter is uniform in its range,
    independently per image. Uncovered areas follow ``mode``.
    """

    def __init__(self, p=0.5, degrees=(-180.0, 180.0), scale=(0.9, 1.1), shear=(-10.0, 10.0),
                 translate=(-0.1, 0.1), mode="reflect"):
        super().__init__(p)
        self.degrees = check_range(degrees, "degrees")
        self.scale = check_range(scale, "scale", 0.01, 100)
        self.shear = check_range(shear, "shear", -80, 80)
        self.translate = check_range(translate, "translate", -1, 1)
        self.mode = _check_mode(mode)

    def _augment(self, x, chosen, rng, inplace):
        def warp(images):
            b, _, h, w = images.shape
            matrices = affine_matrices(
                h, w,
                angle=rng.uniform(*self.degrees, b),
                scale=rng.uniform(*self.scale, b),
                shear=rng.uniform(*self.shear, b),
                tx=rng.uniform(*self.translate, b) * w,
                ty=rng.uniform(*self.translate, b) * h,
            )
            return warp_affine(images, matrices, self.mode)

        return self._on_chosen(warp, x, chosen, inplace, rng)

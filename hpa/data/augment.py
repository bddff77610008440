"""Random augmentations for batches of 4-channel HPA images.

Every augmentation works on a whole batch ``x`` of shape (B, C, H, W) (C is 4
for HPA: red, green, blue, yellow) and moves or changes all channels of an
image together, so the four stains stay aligned pixel for pixel.

An augmentation is an object called as ``aug(x, rng)``:

* ``p`` is the probability that it changes a given image. Each image of the
  batch decides on its own, so one batch mixes changed and unchanged images.
* ``rng`` is a ``numpy.random.Generator``. All randomness comes from it, so the
  same seed gives the same output.
* The input is left alone and a new array returned, unless the caller
  passes ``inplace=True`` to allow reusing its memory (:class:`Compose` does
  so for the intermediate arrays it owns).

Dtypes: the input is uint8 or float32.

* :class:`Dihedral` only moves pixels, so it keeps the dtype (uint8 stays
  uint8, which keeps the common flip/rotate step cheap).
* Every other augmentation interpolates or rescales intensities and returns
  float32, still on the 0..255 scale of the input. Values are not clipped: a
  brightened pixel may exceed 255. Normalisation to zero mean and unit
  variance happens later, in :mod:`hpa.data.loader`.

Geometric transforms share one engine, :func:`warp_affine`: every output pixel
is mapped through a per-image 2x3 matrix to a point of the input image, whose
value is read with bilinear interpolation. The grids of the whole batch are
built and gathered at once.

Coordinates: pixel (row i, column j) has its centre at x = j, y = i, with y
growing downward. A positive angle turns the image counter-clockwise as
displayed, the same way as ``np.rot90(img, 1, axes=(-2, -1))``.
"""
import numpy as np

from hpa.errors import HpaError

MODES = ("constant", "reflect", "edge")


def _check_batch(x):
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        shape = getattr(x, "shape", type(x).__name__)
        raise HpaError(f"x: expected a batch of shape (B, C, H, W), got {shape}")
    if x.dtype not in (np.uint8, np.float32):
        raise HpaError(f"x: dtype must be uint8 or float32, got {x.dtype}")


def _check_probability(p):
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) or not 0 <= p <= 1:
        raise HpaError(f"p: probability must be a number in [0, 1], got {p!r}")
    return float(p)


def _check_range(value, name, low=-np.inf, high=np.inf):
    """A ``(min, max)`` pair of numbers with ``low <= min <= max <= high``."""
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise HpaError(f"{name}: expected a (min, max) pair of numbers, got {value!r}") from None
    if not low <= lo <= hi <= high:
        raise HpaError(f"{name}: need {low} <= min <= max <= {high}, got {value!r}")
    return lo, hi


def _check_mode(mode):
    if mode not in MODES:
        raise HpaError(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")
    return mode


class Augmentation:
    """Base class: decides which images to change, then changes them.

    A subclass implements one of two hooks:

    * ``_apply(x, rng)``: ``x`` holds only the chosen images, (b, C, H, W)
      with b >= 1, in the caller's dtype; it must not be modified, and the
      result is a new array. Suits costly transforms, which should not touch
      images they leave alone.
    * ``_augment(x, chosen, rng, inplace)``: the whole batch and a boolean
      mask (B,) of the chosen images. Suits cheap per-image transforms, which
      run faster over the whole batch with neutral parameters for the images
      not chosen than by gathering and scattering the chosen ones.

    Results are float32 unless the class sets ``keeps_dtype``.
    """

    keeps_dtype = False

    def __init__(self, p):
        self.p = _check_probability(p)

    def __call__(self, x, rng, inplace=False):
        """Augment batch ``x`` (B, C, H, W) -> array of the same shape.

        With ``inplace=False`` (the default) ``x`` is left alone and a new
        array returned. ``inplace=True`` lets the result reuse ``x``'s memory
        when the dtypes agree: :class:`Compose` passes it for the arrays it
        made itself, saving a fresh allocation per step.
        """
        _check_batch(x)
        if not isinstance(rng, np.random.Generator):
            raise HpaError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
        return self._augment(x, rng.random(len(x)) < self.p, rng, inplace)

    def _augment(self, x, chosen, rng, inplace):
        if chosen.all() and len(x):
            return self._apply(x, rng)
        dtype = x.dtype if self.keeps_dtype else np.dtype(np.float32)
        out = x if inplace and x.dtype == dtype else x.astype(dtype)
        if chosen.any():
            out[chosen] = self._apply(x[chosen], rng)
        return out

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({params})"


class Compose:
    """Apply augmentations one after the other: ``Compose([a, b])(x, rng)``.

    A step may be any callable ``f(x, rng)`` that returns a new array or
    ``x`` itself, never a modified ``x``. The caller's ``x`` is never
    modified; with no steps it is returned as it is.
    """

    def __init__(self, augmentations):
        self.augmentations = list(augmentations)
        for a in self.augmentations:
            if not callable(a):
                raise HpaError(f"augmentations: {a!r} is not callable as aug(x, rng)")

    def __call__(self, x, rng, inplace=False):
        """Run every step on ``x`` (B, C, H, W); ``inplace`` as for
        :meth:`Augmentation.__call__`."""
        for a in self.augmentations:
            if isinstance(a, (Augmentation, Compose)):
                y = a(x, rng, inplace=inplace)
            else:
                y = a(x, rng)
            # An array a step made is ours to overwrite in the next steps.
            inplace = inplace or y is not x
            x = y
        return x

    def __repr__(self):
        return f"Compose({self.augmentations!r})"


def default_augmentation():
    """Flips and 90-degree rotations, then brightness and contrast jitter.

    Cheap and label-preserving: protein localisation does not depend on the
    orientation of the field of view or on the exact exposure.
    """
    return Compose([
        Dihedral(p=1.0),
        Brightness(p=0.5, factor=(0.8, 1.2)),
        Contrast(p=0.5, factor=(0.8, 1.2)),
    ])


# ---------------------------------------------------------------- dihedral


def dihedral(x, g):
    """Element ``g`` (0..7) of the symmetry group of the square on ``x`` (..., S, S).

    ``g % 4`` quarter turns counter-clockwise, then for ``g >= 4`` a left-right
    flip. Returns a view.
    """
    out = np.rot90(x, g % 4, axes=(-2, -1))
    return out[..., ::-1] if g >= 4 else out


class Dihedral(Augmentation):
    """One of the 8 flips/90-degree rotations, uniformly, for each chosen image.

    The identity is one of the 8, so with ``p=1`` an image stays as it is with
    probability 1/8. Needs square images; keeps the dtype.
    """

    keeps_dtype = True

    def __init__(self, p=1.0):
        super().__init__(p)

    def _augment(self, x, chosen, rng, inplace):
        if x.shape[2] != x.shape[3]:
            raise HpaError(f"x: flips and 90-degree rotations need square images, "
                           f"got {x.shape[2]}x{x.shape[3]}")
        return super()._augment(x, chosen, rng, inplace)

    def _apply(self, x, rng):
        g = rng.integers(0, 8, len(x))
        out = np.empty_like(x)
        # One vectorised copy per group element rather than one per image.
        for element in range(8):
            members = np.flatnonzero(g == element)
            if len(members):
                out[members] = dihedral(x[members], element)
        return out


# ------------------------------------------------------------- intensities


class Brightness(Augmentation):
    """Multiply intensities by a random gain in ``factor``.

    ``per_channel=False`` draws one gain per image; ``True`` one per image and
    channel, which mimics the independent exposure of each stain.
    """

    def __init__(self, p=0.5, factor=(0.8, 1.2), per_channel=False):
        super().__init__(p)
        self.factor = _check_range(factor, "factor", 0)
        self.per_channel = bool(per_channel)

    def _augment(self, x, chosen, rng, inplace):
        shape = (len(x), x.shape[1] if self.per_channel else 1, 1, 1)
        gain = rng.uniform(*self.factor, shape).astype(np.float32)
        gain[~chosen] = 1
        out = x if inplace and x.dtype == np.float32 else None
        return np.multiply(x, gain, out=out, dtype=np.float32)


class Contrast(Augmentation):
    """Stretch intensities about each channel's mean by a random ``factor``.

    ``x' = mean + f * (x - mean)`` with one ``f`` per image; the mean of every
    channel of the image is unchanged.
    """

    def __init__(self, p=0.5, factor=(0.8, 1.2)):
        super().__init__(p)
        self.factor = _check_range(factor, "factor", 0)

    def _augment(self, x, chosen, rng, inplace):
        f = rng.uniform(*self.factor, (len(x), 1, 1, 1)).astype(np.float32)
        f[~chosen] = 1
        mean = x.mean(axis=(2, 3), keepdims=True, dtype=np.float32)
        out = x if inplace and x.dtype == np.float32 else None
        out = np.multiply(x, f, out=out, dtype=np.float32)
        out += mean * (1 - f)
        return out


class GaussianNoise(Augmentation):
    """Add zero-mean Gaussian noise with a random standard deviation in ``sigma``.

    ``sigma`` is on the 0..255 scale, drawn once per image. With
    ``per_channel=True`` every pixel of every channel gets its own noise;
    with ``False`` one noise image is shared by the four channels.
    """

    def __init__(self, p=0.5, sigma=(0.0, 8.0), per_channel=True):
        super().__init__(p)
        self.sigma = _check_range(sigma, "sigma", 0)
        self.per_channel = bool(per_channel)

    def _apply(self, x, rng):
        b, c, h, w = x.shape
        sigma = rng.uniform(*self.sigma, (b, 1, 1, 1)).astype(np.float32)
        noise = rng.standard_normal((b, c if self.per_channel else 1, h, w), dtype=np.float32)
        noise *= sigma
        return x + noise


class GaussianBlur(Augmentation):
    """Blur with a Gaussian of random standard deviation in ``sigma`` (pixels).

    Separable: a 1-D kernel along the width, then along the height, each
    image with its own sigma. Kernels reach 3 sigma of the widest one and sum
    to 1, so flat regions keep their value and the image mean barely moves
    (borders are mirrored).
    """

    def __init__(self, p=0.5, sigma=(0.1, 1.5)):
        super().__init__(p)
        self.sigma = _check_range(sigma, "sigma", 0, 50)

    def _apply(self, x, rng):
        sigma = rng.uniform(*self.sigma, len(x))
        radius = max(1, int(np.ceil(3 * sigma.max())))
        taps = np.arange(-radius, radius + 1)
        # All kernels share the widest support; narrower ones are ~0 at its ends.
        kernels = np.exp(-0.5 * (taps / np.maximum(sigma, 1e-6)[:, None]) ** 2)
        kernels = (kernels / kernels.sum(axis=1, keepdims=True)).astype(np.float32)
        out = _convolve_along_width(x, kernels)
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


# ----------------------------------------------------- geometric transforms


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
    _check_batch(x)
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
        self.degrees = _check_range(degrees, "degrees")
        if angles is not None:
            try:
                angles = np.asarray(list(angles), np.float64)
            except (TypeError, ValueError):
                raise HpaError(f"angles: expected a sequence of numbers, got {angles!r}") from None
            if angles.ndim != 1 or len(angles) == 0 or not np.isfinite(angles).all():
                raise HpaError(f"angles: expected a non-empty sequence of finite numbers, got {angles!r}")
        self.angles = angles
        self.mode = _check_mode(mode)

    def _apply(self, x, rng):
        if self.angles is None:
            angle = rng.uniform(*self.degrees, len(x))
        else:
            angle = rng.choice(self.angles, len(x))
        return warp_affine(x, affine_matrices(x.shape[2], x.shape[3], angle=angle), self.mode)


class RandomCrop(Augmentation):
    """Cut a random square-proportioned window and resize it back to full size.

    The window's sides are a random fraction ``scale`` of the image's sides
    (same fraction for height and width, so shapes are not distorted), placed
    uniformly inside the image. Resizing is bilinear.
    """

    def __init__(self, p=0.5, scale=(0.6, 1.0)):
        super().__init__(p)
        self.scale = _check_range(scale, "scale", 0.01, 1)

    def _apply(self, x, rng):
        b, _, h, w = x.shape
        k = rng.uniform(*self.scale, b)
        left = rng.random(b) * w * (1 - k)
        top = rng.random(b) * h * (1 - k)
        matrices = np.zeros((b, 2, 3))
        matrices[:, 0, 0] = matrices[:, 1, 1] = k
        # Pixel centres: output centre j + 0.5 lands at left + k * (j + 0.5).
        matrices[:, 0, 2] = left + 0.5 * k - 0.5
        matrices[:, 1, 2] = top + 0.5 * k - 0.5
        return warp_affine(x, matrices, "edge")


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
        self.degrees = _check_range(degrees, "degrees")
        self.scale = _check_range(scale, "scale", 0.01, 100)
        self.shear = _check_range(shear, "shear", -80, 80)
        self.translate = _check_range(translate, "translate", -1, 1)
        self.mode = _check_mode(mode)

    def _apply(self, x, rng):
        b, _, h, w = x.shape
        matrices = affine_matrices(
            h, w,
            angle=rng.uniform(*self.degrees, b),
            scale=rng.uniform(*self.scale, b),
            shear=rng.uniform(*self.shear, b),
            tx=rng.uniform(*self.translate, b) * w,
            ty=rng.uniform(*self.translate, b) * h,
        )
        return warp_affine(x, matrices, self.mode)

"""Drawing tools for the synthetic images: noise, filaments, spots.

Everything works on whole images at once. Coordinates are in pixels, float32,
with pixel ``(row i, column j)`` covering ``x in [j, j+1)``, ``y in [i, i+1)``.

* :func:`noise` samples a smooth random field at arbitrary (warped)
  coordinates, so patterns can be stretched or bent per cell.
* :func:`ridges` turns such a field into thin lines of even width: filaments.
* :class:`Spots` collects point-like sources (dots, short rods, rings) and
  renders each as a Gaussian of a given width with one FFT per width.
* :func:`smooth_field` makes slowly varying fields (illumination, warps).
"""
import functools

import numpy as np
from PIL import Image

_TABLE_SIZE = 256
# Wavelength (in table cells) of the structures in the noise table.
TABLE_WAVELENGTH = 8.0


@functools.lru_cache(maxsize=1)
def _noise_table():
    """Two independent, periodic, band-limited random fields of unit variance,
    flattened: float32 array of shape (2, 256 * 256).

    The spectrum is a ring around wavelength ``TABLE_WAVELENGTH``, so zero
    crossings curve gently and the field has no grid artefacts. The table is
    built from a fixed seed; each sample picks its own random offset, rotation
    and scale into it, so outputs depend only on the sample's seed.
    """
    n = _TABLE_SIZE
    rng = np.random.default_rng(2018)
    k = np.hypot(np.fft.fftfreq(n)[:, None], np.fft.fftfreq(n)[None, :])
    ring = np.exp(-(((k * TABLE_WAVELENGTH) - 1.0) / 0.35) ** 2)
    spectrum = ring * (rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n)))
    field = np.fft.ifft2(spectrum)
    # Real and imaginary parts of a random complex spectrum are independent.
    layers = np.stack([field.real, field.imag])
    layers /= layers.std(axis=(1, 2), keepdims=True)
    return layers.reshape(2, n * n).astype(np.float32)


def noise(x, y, layer=0):
    """Sample noise layer 0 or 1 at table coordinates ``x``, ``y`` (any shape).

    Returns float32 of that shape: a unit-variance field with structures about
    ``TABLE_WAVELENGTH`` coordinate units across, periodic every 256 units.
    Bilinear interpolation keeps the gradient non-zero everywhere, which
    :func:`ridges` relies on.
    """
    return _interpolate(_noise_table()[layer], *_cell_corners(x, y))


def noise_pair(x, y):
    """Both noise layers at the same coordinates: two independent fields."""
    corners = _cell_corners(x, y)
    table = _noise_table()
    return _interpolate(table[0], *corners), _interpolate(table[1], *corners)


def _cell_corners(x, y):
    """Flat table indices of the 4 corners around each point, and the
    fractional position inside that table cell."""
    mask = _TABLE_SIZE - 1
    x0 = np.floor(x)
    y0 = np.floor(y)
    fx = (x - x0).astype(np.float32)
    fy = (y - y0).astype(np.float32)
    xi = x0.astype(np.int32) & mask
    yi = (y0.astype(np.int32) & mask) * _TABLE_SIZE
    xj = (xi + 1) & mask
    yj = (yi + _TABLE_SIZE) & (_TABLE_SIZE * _TABLE_SIZE - 1)
    return (yi + xi, yi + xj, yj + xi, yj + xj), fx, fy


def _interpolate(table, corners, fx, fy):
    a, b, c, d = (table.take(i) for i in corners)
    top = a + (b - a) * fx
    return top + (c + (d - c) * fx - top) * fy


def ridges(field, width):
    """Thin lines along the zero crossings of ``field`` (S, S) -> (S, S) in [0, 1].

    ``|f| / |grad f|`` is the distance in pixels to the nearest zero crossing
    (to first order), so the lines have the same ``width`` (pixels, Gaussian
    half width) wherever the field is steep or flat.
    """
    # exp(-(dist / width)^2) written without the square root.
    return np.exp(-(field * field) / (gradient_squared(field) * (width * width) + 1e-12))


def gradient_squared(field):
    """|grad field|^2 per pixel by central differences (one-sided at the edges)."""
    gx = np.empty_like(field)
    gy = np.empty_like(field)
    gx[:, 1:-1] = (field[:, 2:] - field[:, :-2]) * 0.5
    gx[:, 0] = field[:, 1] - field[:, 0]
    gx[:, -1] = field[:, -1] - field[:, -2]
    gy[1:-1] = (field[2:] - field[:-2]) * 0.5
    gy[0] = field[1] - field[0]
    gy[-1] = field[-1] - field[-2]
    return gx * gx + gy * gy


def length(dx, dy):
    """sqrt(dx^2 + dy^2); several times faster than np.hypot."""
    return np.sqrt(dx * dx + dy * dy)


def smooth_field(rng, size, cells, mean=0.0, amplitude=1.0):
    """A smooth random field (size, size) float32 with about ``cells`` bumps
    across the image: ``mean + amplitude * (values in about [-1, 1])``.

    A small random grid resized by PIL (bicubic): cheaper than any NumPy
    formulation, and no BLAS call that could start competing threads.
    """
    grid = rng.uniform(-1.0, 1.0, (cells + 3, cells + 3)).astype(np.float32)
    big = Image.fromarray(grid).resize((size, size), Image.BICUBIC, box=(1, 1, cells + 2, cells + 2))
    return mean + amplitude * np.asarray(big, dtype=np.float32)


@functools.lru_cache(maxsize=64)
def _gaussian_transfer(n, sigma):
    """rfft2 of a Gaussian with peak 1 sampled on a periodic n x n canvas.

    Built from the 1-D transforms of the *sampled* Gaussian (a 2-D Gaussian
    is the product of two 1-D ones), so thin spots have no ringing: the
    continuous formula, cut off at the Nyquist frequency, would give
    negative halos around sub-pixel spots.
    """
    d = np.minimum(np.arange(n), n - np.arange(n))  # circular distance to pixel 0
    g = np.exp(-0.5 * (d / sigma) ** 2)
    return (np.fft.fft(g).real[:, None] * np.fft.rfft(g).real[None, :]).astype(np.complex64)


class Spots:
    """Point sources rendered as Gaussians, grouped by width.

    ``add(x, y, weight, sigma)`` adds points whose Gaussian *peak* equals
    ``weight`` times ``gain``. Points are split over their four nearest
    pixels (bilinear), so sub-pixel positions survive. ``render()`` blurs
    each group once, on a canvas padded by ``pad`` pixels so spots near the
    border neither wrap around nor get lost when their centre lies just
    outside.

    ``coarse=2`` draws on a canvas of half the resolution and enlarges the
    result: four times cheaper, and exact enough for wide, smooth blobs
    (sigma of 1.2 px or more).
    """

    def __init__(self, size, pad=None, coarse=1):
        self.size = size
        # Multiplies every later ``add``: lets a caller dim a whole pattern.
        self.gain = 1.0
        self.coarse = coarse
        self.inner = -(-size // coarse)  # canvas pixels covering the image
        self.pad = int(pad if pad is not None else max(8, self.inner // 16))
        self.canvas = self.inner + 2 * self.pad
        self._groups = {}

    def _plane(self, sigma):
        key = round(float(sigma), 2)
        if key not in self._groups:
            self._groups[key] = np.zeros(self.canvas * self.canvas, dtype=np.float64)
        return self._groups[key]

    def add(self, x, y, weight, sigma):
        """Add spots at pixel coordinates ``x``, ``y`` (arrays of one shape;
        ``weight`` is a number or broadcasts to that shape)."""
        x = np.asarray(x, dtype=np.float64)
        w = np.broadcast_to(np.asarray(weight, dtype=np.float64) * self.gain, x.shape).ravel()
        x = x.ravel() / self.coarse + self.pad - 0.5
        y = np.asarray(y, dtype=np.float64).ravel() / self.coarse + self.pad - 0.5
        keep = (x >= 0) & (y >= 0) & (x < self.canvas - 1) & (y < self.canvas - 1)
        x, y, w = x[keep], y[keep], w[keep]
        x0 = np.floor(x)
        y0 = np.floor(y)
        fx = x - x0
        fy = y - y0
        idx = y0.astype(np.int64) * self.canvas + x0.astype(np.int64)
        c = self.canvas
        # One bincount for all four bilinear neighbours.
        idx = np.concatenate([idx, idx + 1, idx + c, idx + c + 1])
        share = np.concatenate([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy])
        plane = self._plane(sigma / self.coarse)
        plane += np.bincount(idx, weights=np.tile(w, 4) * share, minlength=plane.size)

    def render(self):
        """Sum of all groups, blurred, cropped to (S, S) float32."""
        if not self._groups:
            return np.zeros((self.size, self.size), dtype=np.float32)
        sigmas = list(self._groups)
        planes = np.stack([self._groups[s] for s in sigmas]).astype(np.float32)
        planes = planes.reshape(len(sigmas), self.canvas, self.canvas)
        spectra = np.fft.rfft2(planes)
        for i, s in enumerate(sigmas):
            spectra[i] *= _gaussian_transfer(self.canvas, s)
        blurred = np.fft.irfft2(spectra.sum(axis=0), s=(self.canvas, self.canvas))
        p, n = self.pad, self.inner
        # Rounding leaves values like -1e-8 where there is nothing.
        image = np.maximum(blurred[p : p + n, p : p + n], 0.0).astype(np.float32)
        if self.coarse > 1:
            big = n * self.coarse
            image = np.asarray(Image.fromarray(image).resize((big, big), Image.BILINEAR))
        return image[: self.size, : self.size]

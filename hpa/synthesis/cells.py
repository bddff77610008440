"""What is inside each cell of a synthetic field: nucleus, nucleoli, MTOC.

:class:`Cells` adds to the territories of :class:`hpa.synthesis.layout.CellLayout`
one irregular nucleus per cell (an ellipse with a lumpy, slightly bent
outline), a few nucleoli, and a microtubule organising centre (MTOC) beside
the nucleus. In a mitotic cell the chromosomes are condensed into a plate,
and the two spindle poles replace the MTOC.

Lengths are in reference pixels times ``unit`` (see :mod:`hpa.synthesis.layout`).
Per-pixel results are (S, S) float32 arrays; per-cell ones are (K,) arrays.
"""
import numpy as np

from hpa.synthesis.fields import Spots, length, smooth_field
from hpa.synthesis.layout import DAUGHTER, MITOTIC, CellLayout


class Cells(CellLayout):
    """Geometry of one field of view: the cell layout and each cell's anatomy.

    Per cell (K,), besides those of :class:`CellLayout`: nucleus centre
    ``nx, ny``, semi-axes ``na, nb``, angle ``nangle``, MTOC ``mx, my`` and
    direction ``mangle``. Nucleolus centres are flat arrays (see
    ``_nucleoli``).

    Per pixel (S, S), besides those of :class:`CellLayout`: ``nucleus``
    (soft nucleus mask), ``rho`` (elliptic radius, 1 on the nuclear rim),
    ``dist`` (px from the nucleus centre), ``ux, uy`` (unit vector away from
    the nucleus centre), ``depth`` (0 at the nuclear rim to 1 at the cell
    border, in cytoplasm), ``rim_dist`` (px outside the nuclear rim,
    negative inside), ``cytoplasm`` (soft mask), ``nucleoli`` (soft mask),
    ``mitotic`` (1 inside mitotic cells).
    """

    def __init__(self, rng, size, mitotic=False, division=False):
        super().__init__(rng, size, mitotic, division)
        self._nuclei()
        self._nucleoli()
        self._mtocs()

    def _nuclei(self):
        """One nucleus per cell near its centre, and the per-pixel distances
        measured from it (``rho``, ``dist``, ``rim_dist``, ``depth``)."""
        rng, u, k = self.rng, self.unit, self.count
        rad = self.radius
        shift = rng.uniform(0.0, 0.18, k) * rad
        angle = rng.uniform(0, 2 * np.pi, k)
        self.nx = (self.seed_image_x + shift * np.cos(angle)).astype(np.float32)
        self.ny = (self.seed_image_y + shift * np.sin(angle)).astype(np.float32)
        # Cell lines differ in how much of the cell the nucleus fills.
        na = rad * rng.uniform(0.36, 0.5) * rng.uniform(0.9, 1.1, k)
        nb = na * rng.uniform(0.72, 1.0, k)
        bend = rng.normal(0.0, 0.25, k)
        lumpy = np.full(k, 0.05)
        mitotic = self.kind == MITOTIC
        na[mitotic] = rad[mitotic] * 0.52
        nb[mitotic] = rad[mitotic] * 0.12
        lumpy[mitotic] = 0.25
        daughter = self.kind == DAUGHTER
        na[daughter] = rad[daughter] * 0.5
        nb[daughter] = na[daughter] * 0.9
        self.na, self.nb = na.astype(np.float32), nb.astype(np.float32)
        self.nangle = rng.uniform(0, np.pi, k).astype(np.float32)
        cells = np.stack([self.nx, self.ny, np.cos(self.nangle), np.sin(self.nangle),
                          self.na, self.nb, bend, lumpy]).astype(np.float32)
        nx, ny, c, s, a, b, bend, lumpy = cells[:, self.label]

        dx = self.x - nx
        dy = self.y - ny
        along = dx * c + dy * s
        across = -dx * s + dy * c
        # A slight bend turns some ellipses into kidney shapes.
        across = across + bend * along * along / a
        outline = smooth_field(rng, self.size, int(self.size / (9.0 * u)))
        rho = length(along / a, across / b) * (1.0 + lumpy * outline)
        self.rho = rho.astype(np.float32)
        self.dist = length(dx, dy)
        self.ux = dx / (self.dist + 1e-3)
        self.uy = dy / (self.dist + 1e-3)
        # Px between the rim and this pixel, measured along the ray from the centre.
        rim_dist = self.dist * (1.0 - 1.0 / np.maximum(rho, 1e-3))
        self.nucleus = (np.clip((-rim_dist) / (0.8 * u) + 0.5, 0.0, 1.0) * self.inside).astype(np.float32)
        self.cytoplasm = (self.inside * (1.0 - self.nucleus)).astype(np.float32)
        out = np.maximum(rim_dist, 0.0)
        self.depth = np.clip(out / (out + self.edge + 1e-3), 0.0, 1.0).astype(np.float32)
        self.mitotic = (self.kind[self.label] == MITOTIC).astype(np.float32) * self.inside
        self.rim_dist = rim_dist.astype(np.float32)

    def _nucleoli(self):
        """1-4 nucleoli per interphase nucleus, each an irregular blob of 1-3
        overlapping spots. Centres: flat arrays ``nucleolus_x, nucleolus_y``;
        blob width ``nucleolus_sigma``."""
        rng, u = self.rng, self.unit
        count = np.clip(rng.poisson(1.6, self.count) + 1, 1, 4)
        count[self.kind == MITOTIC] = 0
        cell = np.repeat(np.arange(self.count), count)
        r = np.sqrt(rng.uniform(0, 1, cell.size)) * 0.55
        t = rng.uniform(0, 2 * np.pi, cell.size)
        along = r * np.cos(t) * self.na[cell]
        across = r * np.sin(t) * self.nb[cell]
        c, s = np.cos(self.nangle[cell]), np.sin(self.nangle[cell])
        self.nucleolus_x = self.nx[cell] + along * c - across * s
        self.nucleolus_y = self.ny[cell] + along * s + across * c
        self.nucleolus_sigma = sigma = rng.uniform(1.3, 2.2) * u

        lobes = rng.integers(1, 4, cell.size)
        px = np.repeat(self.nucleolus_x, lobes) + rng.normal(0, 0.8 * sigma, lobes.sum())
        py = np.repeat(self.nucleolus_y, lobes) + rng.normal(0, 0.8 * sigma, lobes.sum())
        spots = Spots(self.size, coarse=2 if sigma >= 1.2 else 1)
        spots.add(px, py, 1.0, sigma)
        blobs = spots.render()
        self.nucleoli = (np.clip((blobs - 0.2) * 2.5, 0.0, 1.0) * self.nucleus).astype(np.float32)

    def _mtocs(self):
        """The MTOC sits just outside the nuclear rim in a random direction."""
        rng, u = self.rng, self.unit
        self.mangle = rng.uniform(0, 2 * np.pi, self.count).astype(np.float32)
        rel = self.mangle - self.nangle
        rim = 1.0 / np.sqrt((np.cos(rel) / self.na) ** 2 + (np.sin(rel) / self.nb) ** 2)
        gap = rim + 3.0 * u
        self.mx = (self.nx + gap * np.cos(self.mangle)).astype(np.float32)
        self.my = (self.ny + gap * np.sin(self.mangle)).astype(np.float32)
        # In mitosis the two spindle poles replace it (see spindle_poles).
        mitotic = self.kind == MITOTIC
        self.mx[mitotic] = self.nx[mitotic]
        self.my[mitotic] = self.ny[mitotic]

    # ----------------------------------------------------------- helpers
    def spindle_poles(self, i):
        """The two spindle poles of mitotic cell(s) ``i`` (an index or an index
        array): ((x1, y1), (x2, y2))."""
        half = 0.55 * self.radius[i]
        c = np.cos(self.nangle[i] + np.pi / 2)
        s = np.sin(self.nangle[i] + np.pi / 2)
        return (self.nx[i] - half * c, self.ny[i] - half * s), (self.nx[i] + half * c, self.ny[i] + half * s)

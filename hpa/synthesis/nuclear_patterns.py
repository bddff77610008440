"""Protein patterns in and beside the nucleus.

In the nucleus (blue) the classes differ in fill, spot size and count, and
nucleolar position (nucleoli are dark in blue). Beside it, the MTOC,
centrosome, Golgi and aggresome all sit at the microtubule organising
centre and differ in shape and size. See :mod:`hpa.synthesis.patterns`.
"""
import numpy as np

from hpa.synthesis.fields import noise
from hpa.synthesis.layout import MITOTIC
from hpa.synthesis.pattern_parts import around, interphase, segments, texture
from hpa.synthesis.stains import line_width


# ----------------------------------------------------------- the nucleus
def nucleoplasm(scene):
    """Fills the nucleus, sparing the nucleoli."""
    c = scene.cells
    return c.nucleus * (1.0 - 0.8 * c.nucleoli) * texture(scene, 1.0, 0.3) * (1.0 - c.mitotic)


def nuclear_membrane(scene):
    """A thin beaded ring on the nuclear rim."""
    c = scene.cells
    ring = np.exp(-((c.rim_dist / line_width(c, 0.9)) ** 2)) * c.inside
    return ring * texture(scene, 1.2, 0.5) * (1.0 - c.mitotic)


def nucleoli(scene):
    """The nucleoli (dark in blue) light up."""
    c = scene.cells
    return c.nucleoli * texture(scene, 1.5, 0.3) + 0.06 * c.nucleus * (1.0 - c.mitotic)


def nucleoli_fibrillar_center(scene):
    """Two to five small dots inside each nucleolus."""
    c, u = scene.cells, scene.cells.unit
    n = len(c.nucleolus_x)
    count = scene.rng.integers(2, 6, n)
    x, y = around(scene, c.nucleolus_x, c.nucleolus_y, count, np.full(n, 0.6 * c.nucleolus_sigma))
    scene.spots.add(x, y, scene.rng.uniform(0.6, 1.0, x.size), 0.7 * u)
    return 0.05 * c.nucleoli


def nuclear_speckles(scene):
    """Many irregular blotches in the nucleoplasm over a faint fill."""
    c, u = scene.cells, scene.cells.unit
    x, y = c.table_coords(1.7 / u)
    blotches = np.clip((noise(x, y, 0) - 0.2) / 1.2, 0.0, 1.0) ** 1.3
    return c.nucleus * (1.0 - c.nucleoli) * (0.12 + blotches) * (1.0 - c.mitotic)


def nuclear_bodies(scene):
    """A few (about 1-6) distinct round dots per nucleus."""
    c, u = scene.cells, scene.cells.unit
    where = c.nucleus * (c.rho < 0.8) * (1.0 - c.nucleoli) * (1.0 - c.mitotic)
    x, y = c.sample(where, density=0.55)
    scene.spots.add(x, y, scene.rng.uniform(0.7, 1.0, x.size), 1.0 * u)
    return 0.08 * c.nucleus * (1.0 - c.mitotic)


# -------------------------------------------------- beside the nucleus
def _mtoc_dots(scene, sigma, pair):
    """Dots at each interphase cell's MTOC and at both spindle poles of each
    mitotic cell; ``pair`` splits every dot into two centrioles."""
    c, u = scene.cells, scene.cells.unit
    resting = interphase(c)
    (ax, ay), (bx, by) = c.spindle_poles(np.flatnonzero(c.kind == MITOTIC))
    x = np.concatenate([c.mx[resting], ax, bx])
    y = np.concatenate([c.my[resting], ay, by])
    if pair:
        angle = scene.rng.uniform(0, 2 * np.pi, x.size)
        gap = 1.6 * u
        x = np.concatenate([x + gap * np.cos(angle), x - gap * np.cos(angle)])
        y = np.concatenate([y + gap * np.sin(angle), y - gap * np.sin(angle)])
    scene.spots.add(x, y, 1.0, sigma)
    return x, y


def microtubule_organizing_center(scene):
    """One dot with a faint halo at each MTOC."""
    c, u = scene.cells, scene.cells.unit
    x, y = _mtoc_dots(scene, 1.4 * u, pair=False)
    scene.spots.add(x, y, 0.2, 3.5 * u)
    return 0.05 * c.cytoplasm


def centrosome(scene):
    """Two small dots (the centrioles) at each MTOC."""
    _mtoc_dots(scene, 0.7 * scene.cells.unit, pair=True)
    return 0.03 * scene.cells.cytoplasm


def golgi_apparatus(scene):
    """A compact cap of fragments on one side of the nucleus, at the MTOC."""
    c, u, rng = scene.cells, scene.cells.unit, scene.rng
    cells = interphase(c)
    count = rng.integers(14, 30, len(cells))
    idx = np.repeat(cells, count)
    spread = rng.normal(0.0, 0.45, idx.size)  # radians around the nucleus
    angle = c.mangle[idx] + spread
    rel = angle - c.nangle[idx]
    rim = 1.0 / np.sqrt((np.cos(rel) / c.na[idx]) ** 2 + (np.sin(rel) / c.nb[idx]) ** 2)
    dist = rim + rng.uniform(1.0, 6.0, idx.size) * u
    x = c.nx[idx] + dist * np.cos(angle)
    y = c.ny[idx] + dist * np.sin(angle)
    segments(scene, x, y, angle + np.pi / 2, rng.uniform(0.5, 3.5, idx.size) * u, 1.0 * u,
              rng.uniform(0.5, 1.0, idx.size))
    return 0.04 * c.cytoplasm


def aggresome(scene):
    """One large bright irregular blob beside the nucleus in most cells."""
    c, u, rng = scene.cells, scene.cells.unit, scene.rng
    cells = interphase(c)
    cells = cells[rng.random(len(cells)) < 0.75]
    out = 2.0 * u
    x, y = around(scene, c.mx[cells] + out * np.cos(c.mangle[cells]),
                   c.my[cells] + out * np.sin(c.mangle[cells]),
                   np.full(len(cells), 3), np.full(len(cells), 1.2 * u))
    scene.spots.add(x, y, rng.uniform(0.5, 0.8, x.size), rng.uniform(2.2, 3.2) * u)
    return 0.1 * c.cytoplasm

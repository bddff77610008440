"""Protein patterns of the cytoplasm and the cell outline.

Networks that fill the cytoplasm (ER, microtubules, filaments, actin, with
the structures on them), cytoplasmic puncta that differ in size, density,
brightness spread, shape and distance from the nucleus, and fills and
outlines (cytosol, plasma membrane, cell junctions). See
:mod:`hpa.synthesis.patterns`.
"""
import numpy as np

from hpa.synthesis.fields import noise, ridges
from hpa.synthesis.layout import DAUGHTER
from hpa.synthesis.pattern_parts import puncta, rings, segments, texture
from hpa.synthesis.stains import border_fade, line_width, radial_coords


# --------------------------------------------------- cytoplasmic networks
def endoplasmic_reticulum(scene):
    """The ER pattern of the yellow channel."""
    return scene.stains["er"] * texture(scene, 0.5, 0.3)


def microtubules(scene):
    """The microtubules of the red channel, spindles included."""
    return scene.stains["microtubules"] * texture(scene, 0.5, 0.3)


def intermediate_filaments(scene):
    """Wavy bundles wrapped around the nucleus (a perinuclear cage)."""
    c, u = scene.cells, scene.cells.unit
    x, y = radial_coords(c, c.nx, c.ny, gamma=2.2, scale=0.5 / u)
    fibres = ridges(noise(x, y, 1), line_width(c, 0.75))
    near = 0.35 + 0.65 * np.exp(-c.depth / 0.5)
    return fibres * near * c.inside * (1.0 - 0.6 * c.nucleus) * border_fade(c) * (1.0 - c.mitotic)


def actin_filaments(scene):
    """Straight parallel stress fibres along each cell's long axis, plus a
    cortical rim."""
    c, u = scene.cells, scene.cells.unit
    x, y = c.table_coords(0.9 / u, stretch=12.0, angle=c.nangle)
    fibres = ridges(noise(x, y, 0), line_width(c, 0.6))
    bundles = 0.4 + 0.6 * texture(scene, 0.25, 1.0)
    cortex = np.exp(-c.edge / (1.5 * u)) * c.inside
    return (fibres * bundles * c.inside * border_fade(c) + 0.7 * cortex) * (1.0 - c.mitotic)


def focal_adhesion_sites(scene):
    """Rods at the free cell edge, pointing at the nucleus."""
    c, u = scene.cells, scene.cells.unit
    where = c.inside * (c.edge > 1.0) * (c.edge < 5.0 * u) * (1.0 - 0.8 * c.junction) * (1.0 - c.mitotic)
    x, y = c.sample(where, density=1.2)
    i = np.clip(y.astype(int), 0, c.size - 1)
    j = np.clip(x.astype(int), 0, c.size - 1)
    angle = np.arctan2(c.uy[i, j], c.ux[i, j])
    segments(scene, x, y, angle, scene.rng.uniform(2.5, 5.0, x.size) * u, 0.7 * u,
              scene.rng.uniform(0.6, 1.0, x.size))
    return 0.06 * c.cytoplasm


def microtubule_ends(scene):
    """Short comets on the microtubules, more towards the cell edge."""
    c, u = scene.cells, scene.cells.unit
    where = scene.stains["microtubules"] * c.cytoplasm * (0.2 + c.depth)
    x, y = c.sample(where, density=1.5)
    i = np.clip(y.astype(int), 0, c.size - 1)
    j = np.clip(x.astype(int), 0, c.size - 1)
    angle = np.arctan2(c.uy[i, j], c.ux[i, j])
    segments(scene, x, y, angle, np.full(x.size, 1.8 * u), 0.65 * u, scene.rng.uniform(0.6, 1.0, x.size))
    return 0.12 * c.cytoplasm


def cytokinetic_bridge(scene):
    """A thin line between two daughter cells with a bright midbody."""
    c, u = scene.cells, scene.cells.unit
    first = np.flatnonzero((c.kind == DAUGHTER) & (c.partner > np.arange(c.count)))
    if len(first):
        second = c.partner[first]
        t = np.linspace(0.3, 0.7, 15)
        x = c.nx[first, None] + (c.nx[second] - c.nx[first])[:, None] * t
        y = c.ny[first, None] + (c.ny[second] - c.ny[first])[:, None] * t
        scene.spots.add(x, y, 0.45, 0.8 * u)
        mx = 0.5 * (c.nx[first] + c.nx[second])
        my = 0.5 * (c.ny[first] + c.ny[second])
        scene.spots.add(mx, my, 1.3, 1.3 * u)
    return 0.05 * c.cytoplasm


def mitotic_spindle(scene):
    """Only the spindles of mitotic cells."""
    return scene.stains["spindle"] + 0.05 * scene.cells.cytoplasm


# ---------------------------------------------------- cytoplasmic puncta
def peroxisomes(scene):
    """Many small, even, evenly spread dots."""
    c, u = scene.cells, scene.cells.unit
    puncta(scene, c.cytoplasm * border_fade(c), 4.5, 0.65 * u,
            lambda n: scene.rng.uniform(0.7, 1.0, n))
    return 0.03 * c.cytoplasm


def endosomes(scene):
    """Medium dots of mixed brightness, spread with a perinuclear bias."""
    c, u = scene.cells, scene.cells.unit
    where = c.cytoplasm * border_fade(c) * (0.35 + 0.65 * np.exp(-c.depth / 0.4))
    puncta(scene, where, 1.8, 1.0 * u, lambda n: np.exp(scene.rng.normal(-0.3, 0.4, n)))
    return 0.05 * c.cytoplasm


def lysosomes(scene):
    """Fewer, larger dots crowded around the nucleus."""
    c, u = scene.cells, scene.cells.unit
    where = c.cytoplasm * border_fade(c) * np.exp(-c.depth / 0.25)
    puncta(scene, where, 2.2, 1.35 * u, lambda n: scene.rng.uniform(0.5, 1.0, n))
    return 0.04 * c.cytoplasm


def mitochondria(scene):
    """Many short worm-like tubules, denser around the nucleus."""
    c, u, rng = scene.cells, scene.cells.unit, scene.rng
    where = c.cytoplasm * border_fade(c) * (0.3 + 0.7 * np.exp(-c.depth / 0.5)) * (1.0 - c.mitotic)
    x, y = c.sample(where, density=2.4)
    segments(scene, x, y, rng.uniform(0, np.pi, x.size), rng.uniform(2.0, 6.0, x.size) * u,
              0.6 * u, rng.uniform(0.6, 1.0, x.size))
    return 0.05 * c.cytoplasm


def cytoplasmic_bodies(scene):
    """A few large bright dots per cell."""
    c, u = scene.cells, scene.cells.unit
    puncta(scene, c.cytoplasm * border_fade(c), 0.1, scene.rng.uniform(1.6, 2.2) * u,
            lambda n: scene.rng.uniform(0.8, 1.0, n))
    return 0.04 * c.cytoplasm


def lipid_droplets(scene):
    """Round droplets: rims when large, solid blobs when small."""
    c, u, rng = scene.cells, scene.cells.unit, scene.rng
    x, y = c.sample(c.cytoplasm * border_fade(c) * (1.0 - c.mitotic), density=0.35)
    radius = rng.uniform(1.0, 3.5, x.size) * u
    big = radius > 1.8 * u
    rings(scene, x[big], y[big], radius[big], 0.65 * u, 0.8)
    scene.spots.add(x[~big], y[~big], 0.8, 1.2 * u)
    return 0.03 * c.cytoplasm


def rods_and_rings(scene):
    """One to a few small rods and rings per cell."""
    c, u, rng = scene.cells, scene.cells.unit, scene.rng
    x, y = c.sample(c.cytoplasm * border_fade(c) * (1.0 - c.mitotic), density=0.07)
    ring = rng.random(x.size) < 0.5
    rings(scene, x[ring], y[ring], rng.uniform(1.8, 2.8, ring.sum()) * u, 0.6 * u, 0.9)
    rods = ~ring
    segments(scene, x[rods], y[rods], rng.uniform(0, np.pi, rods.sum()),
              rng.uniform(5.0, 9.0, rods.sum()) * u, 0.6 * u, 0.9)
    return 0.03 * c.cytoplasm


# ------------------------------------------------------ fills and outlines
def cytosol(scene):
    """Fills the cytoplasm with fine grain, fainter over the nucleus."""
    c = scene.cells
    fill = c.cytoplasm * (1.0 - 0.5 * c.depth**2) + 0.3 * c.nucleus
    return fill * texture(scene, 0.5, 0.25) * texture(scene, 2.0, 0.35)


def plasma_membrane(scene):
    """Outlines every cell, at free and shared borders alike."""
    c = scene.cells
    rim = np.exp(-((c.edge / line_width(c, 1.0)) ** 2)) * c.inside
    return rim * texture(scene, 0.8, 0.4) + 0.08 * c.cytoplasm


def cell_junctions(scene):
    """Outlines only where two cells touch."""
    c = scene.cells
    rim = np.exp(-((c.edge / line_width(c, 1.1)) ** 2)) * c.inside * c.junction
    return rim * texture(scene, 0.8, 0.4) + 0.04 * c.cytoplasm

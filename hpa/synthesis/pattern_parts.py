"""Building blocks the green protein patterns share (see :mod:`hpa.synthesis.patterns`).

Point-like structures are added to ``scene.spots`` as Gaussian dots of
width ``sigma`` px: :func:`segments` (short rods), :func:`rings` (hollow
circles), :func:`puncta` (dots scattered over a weight map). :func:`around`
scatters points about given centres, :func:`texture` makes a dense pattern
uneven, and :func:`interphase` picks the cells not in mitosis.
"""
import numpy as np

from hpa.synthesis.fields import smooth_field
from hpa.synthesis.layout import MITOTIC


def segments(scene, x, y, angle, length, sigma, weight):
    """Short rods centred at (x, y) along ``angle``, each peaking at ``weight``."""
    steps = max(2, int(np.ceil(np.max(length, initial=0.0) / (0.7 * sigma))) + 1)
    t = np.linspace(-0.5, 0.5, steps)
    px = x[:, None] + np.cos(angle)[:, None] * length[:, None] * t
    py = y[:, None] + np.sin(angle)[:, None] * length[:, None] * t
    # Overlapping Gaussians add up; scale so a rod peaks about like a dot.
    spacing = np.maximum(length / (steps - 1), 1e-3)
    share = np.minimum(1.0, spacing / (2.5 * sigma))
    w = np.broadcast_to(np.asarray(weight * share)[..., None], px.shape)
    scene.spots.add(px, py, w, sigma)


def rings(scene, x, y, radius, sigma, weight):
    """Hollow rings of ``radius`` centred at (x, y)."""
    steps = 12
    t = np.linspace(0, 2 * np.pi, steps, endpoint=False)
    px = x[:, None] + radius[:, None] * np.cos(t)
    py = y[:, None] + radius[:, None] * np.sin(t)
    spacing = 2 * np.pi * radius / steps
    share = np.minimum(1.0, spacing / (2.5 * sigma))
    w = np.broadcast_to(np.asarray(weight * share)[..., None], px.shape)
    scene.spots.add(px, py, w, sigma)


def around(scene, cx, cy, count, spread):
    """``count[i]`` points scattered (Gaussian, ``spread[i]`` px) around
    (cx[i], cy[i]); returns flat x, y."""
    idx = np.repeat(np.arange(len(cx)), count)
    r = scene.rng.normal(0.0, 1.0, (2, idx.size)) * spread[idx]
    return cx[idx] + r[0], cy[idx] + r[1]


def interphase(cells):
    """Indices of the cells not in mitosis."""
    return np.flatnonzero(cells.kind != MITOTIC)


def texture(scene, scale, amount):
    """1 +- ``amount``: unevenness with structures 8 / ``scale`` reference
    px across (the scale of the noise table, for comparison)."""
    bumps = max(2, int(round(32 * scale)))
    return 1.0 + amount * smooth_field(scene.rng, scene.cells.size, bumps)


def puncta(scene, where, density, sigma, weight):
    """Dots of width ``sigma`` drawn from the map ``where``; ``weight(n)``
    gives the n peak brightnesses."""
    x, y = scene.cells.sample(where, density)
    scene.spots.add(x, y, weight(x.size), sigma)

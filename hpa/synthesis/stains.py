"""The three reference stains of a synthetic field: nucleus, microtubules, ER.

Each structure is first drawn as a *pattern* in [0, 1] (where the stained
material is), then turned into a channel with per-cell brightness. The
patterns are kept because some protein classes follow them: a microtubule
protein looks like the red channel, an ER protein like the yellow one.

* blue: DAPI fills each nucleus, with granular chromatin and darker nucleoli;
  mitotic chromosomes are a bright condensed plate.
* red: microtubules, a mesh of thin filaments radiating from the MTOC and
  bending as they go; in mitosis they form the spindle.
* yellow: the endoplasmic reticulum, a fine reticular mesh that is densest
  around the nucleus and continuous with the nuclear envelope.
"""
import numpy as np

from hpa.synthesis.fields import length, noise, noise_pair, ridges
from hpa.synthesis.layout import MITOTIC


def cell_gains(rng, cells, spread):
    """Per-pixel brightness of each cell: log-normal with sigma ``spread``."""
    return np.exp(rng.normal(0.0, spread, cells.count)).astype(np.float32)[cells.label]


def border_fade(cells):
    """0 within a pixel of a cell border, 1 further in.

    Patterns are sampled with per-cell offsets, so they jump at borders;
    :func:`ridges` would draw those jumps as lines. Fading out the last pixel
    hides them and leaves the thin dark seam seen between real cells.
    """
    return np.clip(cells.edge - 1.0, 0.0, 1.0)


def line_width(cells, reference):
    """Filament width in px: ``reference`` at 256 px, never below half a pixel."""
    return max(reference * cells.unit, 0.5)


def radial_coords(cells, cx, cy, gamma, scale):
    """Table coordinates around per-cell centres (cx, cy) that stretch
    structures radially (``gamma`` < 1) or around the centre (``gamma`` > 1).

    A point at distance r is moved to distance ``r0 * (r / r0) ** gamma`` on
    the same ray; the map squeezes one direction relative to the other by
    ``gamma``, so zero crossings of the noise run along rays or around rings.
    """
    ox = cells.x - cx[cells.label]
    oy = cells.y - cy[cells.label]
    r = length(ox, oy) + 1e-3
    r0 = 0.5 * cells.radius[cells.label]
    g = r0 * np.power(r / r0, gamma) / r * scale
    off = cells.rng.uniform(0, 256, (2, cells.count)).astype(np.float32)
    return ox * g + off[0][cells.label], oy * g + off[1][cells.label]


def microtubule_pattern(cells):
    """Filament mesh radiating from each MTOC, (S, S) in [0, 1]."""
    u = cells.unit
    width = line_width(cells, 0.5)
    x, y = radial_coords(cells, cells.mx, cells.my, gamma=0.3, scale=1.5 / u)
    first, second = noise_pair(x, y)
    # Two independent families of filaments that cross each other.
    mesh = np.maximum(ridges(first, width), 0.6 * ridges(second, width))
    # Dense around the nucleus, thinning out towards the cell edge, faint
    # over the nucleus (the filaments pass above and below it).
    where = cells.inside * (1.0 - 0.75 * cells.nucleus) * (1.0 - 0.5 * cells.depth**2)
    return mesh * where * border_fade(cells) * (1.0 - cells.mitotic)


def spindle_pattern(cells):
    """Mitotic spindles, (S, S) in [0, 1]: fibres converging on two poles.

    Only pixels of mitotic cells are computed.
    """
    out = np.zeros((cells.size, cells.size), dtype=np.float32)
    mitotic = np.flatnonzero(cells.kind == MITOTIC)
    if len(mitotic) == 0:
        return out
    pix = np.flatnonzero(cells.mitotic.ravel() > 0)
    lab = cells.label.ravel()[pix]
    px = cells.x.ravel()[pix] - cells.nx[lab]
    py = cells.y.ravel()[pix] - cells.ny[lab]
    axis = cells.nangle[lab] + np.pi / 2
    half = 0.55 * cells.radius[lab]
    along = (px * np.cos(axis) + py * np.sin(axis)) / half
    across = -px * np.sin(axis) + py * np.cos(axis)
    width = 0.5 * cells.radius[lab] * np.clip(1.0 - along**2, 0.0, None) + 0.5 * cells.unit
    rel = across / width
    fibres = 0.35 + 0.65 * np.cos(np.pi * 3.5 * rel) ** 2
    lens = np.exp(-(rel**4)) * (np.abs(along) < 1.05)
    poles = np.exp(-((np.abs(along) - 1.0) ** 2 * half**2 + across**2) / (2 * (1.5 * cells.unit) ** 2))
    out.ravel()[pix] = np.clip(lens * fibres + poles, 0.0, 1.0)
    return out


def er_pattern(cells):
    """Reticular ER around each nucleus, (S, S) in [0, 1].

    Two independent noise layers give two families of curves; where they
    cross, the mesh closes into the polygons typical of the ER network.
    """
    u = cells.unit
    width = line_width(cells, 0.65)
    x, y = cells.table_coords(1.3 / u)
    first, second = noise_pair(x, y)
    mesh = np.maximum(ridges(first, width), ridges(second, width))
    near = np.exp(-cells.depth / 0.3)
    envelope = np.exp(-((cells.rim_dist / line_width(cells, 1.0)) ** 2))
    sheets = 0.2 + 0.4 * near * (1.0 + 0.3 * first)
    reticulum = (mesh * (0.35 + 0.65 * near) + sheets) * cells.cytoplasm * border_fade(cells)
    body = reticulum + 0.35 * envelope * cells.inside
    # In mitosis the ER fragments into a diffuse haze.
    haze = (0.2 + 0.07 * second) * cells.mitotic * (1.0 - cells.nucleus)
    return np.clip(body * (1.0 - cells.mitotic) + haze, 0.0, 1.0)


def nucleus_stain(cells):
    """DAPI: (S, S) >= 0, brightest in condensed mitotic chromosomes."""
    u = cells.unit
    x, y = cells.table_coords(1.6 / u)
    chromatin = 0.8 + 0.12 * noise(x, y, 0)
    dome = 1.0 - 0.25 * np.minimum(cells.rho, 1.0) ** 2
    darker = 1.0 - 0.3 * cells.nucleoli
    condensed = 1.0 + 0.7 * cells.mitotic
    return cells.nucleus * chromatin * dome * darker * condensed


def reference_stains(cells):
    """All three reference stains and the patterns proteins may follow.

    Returns a dict of (S, S) float32 arrays: ``blue``, ``red``, ``yellow``
    (channels, >= 0, about 1 at their brightest) and ``microtubules``,
    ``spindle``, ``er`` (patterns in [0, 1]).
    """
    rng = cells.rng
    mt = microtubule_pattern(cells)
    spindle = spindle_pattern(cells)
    er = er_pattern(cells)
    tubulin_haze = 0.15 * cells.inside * (1.0 - 0.7 * cells.nucleus)
    red = (mt + spindle + tubulin_haze) * cell_gains(rng, cells, 0.25)
    yellow = (er + 0.08 * cells.inside) * cell_gains(rng, cells, 0.4)
    blue = nucleus_stain(cells) * cell_gains(rng, cells, 0.2)
    return {
        "blue": blue.astype(np.float32),
        "red": red.astype(np.float32),
        "yellow": yellow.astype(np.float32),
        "microtubules": np.clip(mt + spindle, 0.0, 1.0).astype(np.float32),
        "spindle": spindle,
        "er": er.astype(np.float32),
    }

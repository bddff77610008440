"""The green protein channel: one pattern generator per class.

``PATTERNS[c](scene)`` draws class ``c``: it returns a dense (S, S) float32
image (peak about 1) and/or adds point-like structures to ``scene.spots``.
The generators use the geometry in ``scene.cells`` (masks, distances, MTOC
and nucleolus positions; see :mod:`hpa.synthetic.cells`) and the reference
patterns in ``scene.stains`` (see :mod:`hpa.synthetic.stains`).

Look-alike classes differ in the details a network has to learn, and several
can only be told apart with the reference channels:

* nucleoplasm / speckles / bodies / nucleoli / fibrillar centres: all in the
  nucleus (blue), differing in fill, spot size and count, and nucleolar
  position (nucleoli are dark in blue);
* ER / cytosol / microtubules / intermediate filaments / actin: all fill the
  cytoplasm; ER matches yellow, microtubules match red, the filament classes
  run in other directions than the red mesh;
* peroxisomes / endosomes / lysosomes / mitochondria / cytoplasmic bodies /
  lipid droplets / rods & rings: cytoplasmic puncta differing in size,
  density, brightness spread, shape and distance from the nucleus;
* MTOC / centrosome / Golgi / aggresome: next to the nucleus, at the MTOC;
* plasma membrane / cell junctions: cell outlines, all or shared ones only.

Sizes are in reference pixels (of a 256 px image) times ``u``.
"""
import numpy as np

from hpa.synthetic.cells import DAUGHTER, MITOTIC
from hpa.synthetic.fields import noise, ridges, smooth_field
from hpa.synthetic.stains import border_fade, line_width, radial_coords


# ------------------------------------------------------------ spot shapes
def _segments(scene, x, y, angle, length, sigma, weight):
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


def _rings(scene, x, y, radius, sigma, weight):
    """Hollow rings of ``radius`` centred at (x, y)."""
    steps = 12
    t = np.linspace(0, 2 * np.pi, steps, endpoint=False)
    px = x[:, None] + radius[:, None] * np.cos(t)
    py = y[:, None] + radius[:, None] * np.sin(t)
    spacing = 2 * np.pi * radius / steps
    share = np.minimum(1.0, spacing / (2.5 * sigma))
    w = np.broadcast_to(np.asarray(weight * share)[..., None], px.shape)
    scene.spots.add(px, py, w, sigma)


def _around(scene, cx, cy, count, spread):
    """``count[i]`` points scattered (Gaussian, ``spread[i]`` px) around
    (cx[i], cy[i]); returns flat x, y."""
    idx = np.repeat(np.arange(len(cx)), count)
    r = scene.rng.normal(0.0, 1.0, (2, idx.size)) * spread[idx]
    return cx[idx] + r[0], cy[idx] + r[1]


def _interphase(cells):
    """Indices of the cells not in mitosis."""
    return np.flatnonzero(cells.kind != MITOTIC)


def _texture(scene, scale, amount):
    """1 +- ``amount``: unevenness with structures 8 / ``scale`` reference
    px across (the scale of the noise table, for comparison)."""
    bumps = max(2, int(round(32 * scale)))
    return 1.0 + amount * smooth_field(scene.rng, scene.cells.size, bumps)


# ----------------------------------------------------------- the nucleus
def nucleoplasm(scene):
    """Fills the nucleus, sparing the nucleoli."""
    c = scene.cells
    return c.nucleus * (1.0 - 0.8 * c.nucleoli) * _texture(scene, 1.0, 0.3) * (1.0 - c.mitotic)


def nuclear_membrane(scene):
    """A thin beaded ring on the nuclear rim."""
    c = scene.cells
    ring = np.exp(-((c.rim_dist / line_width(c, 0.9)) ** 2)) * c.inside
    return ring * _texture(scene, 1.2, 0.5) * (1.0 - c.mitotic)


def nucleoli(scene):
    """The nucleoli (dark in blue) light up."""
    c = scene.cells
    return c.nucleoli * _texture(scene, 1.5, 0.3) + 0.06 * c.nucleus * (1.0 - c.mitotic)


def nucleoli_fibrillar_center(scene):
    """Two to five small dots inside each nucleolus."""
    c, u = scene.cells, scene.cells.unit
    n = len(c.nucleolus_x)
    count = scene.rng.integers(2, 6, n)
    x, y = _around(scene, c.nucleolus_x, c.nucleolus_y, count, np.full(n, 0.6 * c.nucleolus_sigma))
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


# --------------------------------------------------- cytoplasmic networks
def endoplasmic_reticulum(scene):
    """The ER pattern of the yellow channel."""
    return scene.stains["er"] * _texture(scene, 0.5, 0.3)


def microtubules(scene):
    """The microtubules of the red channel, spindles included."""
    return scene.stains["microtubules"] * _texture(scene, 0.5, 0.3)


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
    bundles = 0.4 + 0.6 * _texture(scene, 0.25, 1.0)
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
    _segments(scene, x, y, angle, scene.rng.uniform(2.5, 5.0, x.size) * u, 0.7 * u,
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
    _segments(scene, x, y, angle, np.full(x.size, 1.8 * u), 0.65 * u, scene.rng.uniform(0.6, 1.0, x.size))
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


# -------------------------------------------------- beside the nucleus
def _mtoc_dots(scene, sigma, pair):
    """Dots at each interphase cell's MTOC and at both spindle poles of each
    mitotic cell; ``pair`` splits every dot into two centrioles."""
    c, u = scene.cells, scene.cells.unit
    interphase = _interphase(c)
    (ax, ay), (bx, by) = c.spindle_poles(np.flatnonzero(c.kind == MITOTIC))
    x = np.concatenate([c.mx[interphase], ax, bx])
    y = np.concatenate([c.my[interphase], ay, by])
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
    cells = _interphase(c)
    count = rng.integers(14, 30, len(cells))
    idx = np.repeat(cells, count)
    spread = rng.normal(0.0, 0.45, idx.size)  # radians around the nucleus
    angle = c.mangle[idx] + spread
    rel = angle - c.nangle[idx]
    rim = 1.0 / np.sqrt((np.cos(rel) / c.na[idx]) ** 2 + (np.sin(rel) / c.nb[idx]) ** 2)
    dist = rim + rng.uniform(1.0, 6.0, idx.size) * u
    x = c.nx[idx] + dist * np.cos(angle)
    y = c.ny[idx] + dist * np.sin(angle)
    _segments(scene, x, y, angle + np.pi / 2, rng.uniform(0.5, 3.5, idx.size) * u, 1.0 * u,
              rng.uniform(0.5, 1.0, idx.size))
    return 0.04 * c.cytoplasm


def aggresome(scene):
    """One large bright irregular blob beside the nucleus in most cells."""
    c, u, rng = scene.cells, scene.cells.unit, scene.rng
    cells = _interphase(c)
    cells = cells[rng.random(len(cells)) < 0.75]
    out = 2.0 * u
    x, y = _around(scene, c.mx[cells] + out * np.cos(c.mangle[cells]),
                   c.my[cells] + out * np.sin(c.mangle[cells]),
                   np.full(len(cells), 3), np.full(len(cells), 1.2 * u))
    scene.spots.add(x, y, rng.uniform(0.5, 0.8, x.size), rng.uniform(2.2, 3.2) * u)
    return 0.1 * c.cytoplasm


# ---------------------------------------------------- cytoplasmic puncta
def _puncta(scene, where, density, sigma, weight):
    """Dots of width ``sigma`` drawn from the map ``where``; ``weight(n)``
    gives the n peak brightnesses."""
    x, y = scene.cells.sample(where, density)
    scene.spots.add(x, y, weight(x.size), sigma)


def peroxisomes(scene):
    """Many small, even, evenly spread dots."""
    c, u = scene.cells, scene.cells.unit
    _puncta(scene, c.cytoplasm * border_fade(c), 4.5, 0.65 * u,
            lambda n: scene.rng.uniform(0.7, 1.0, n))
    return 0.03 * c.cytoplasm


def endosomes(scene):
    """Medium dots of mixed brightness, spread with a perinuclear bias."""
    c, u = scene.cells, scene.cells.unit
    where = c.cytoplasm * border_fade(c) * (0.35 + 0.65 * np.exp(-c.depth / 0.4))
    _puncta(scene, where, 1.8, 1.0 * u, lambda n: np.exp(scene.rng.normal(-0.3, 0.4, n)))
    return 0.05 * c.cytoplasm


def lysosomes(scene):
    """Fewer, larger dots crowded around the nucleus."""
    c, u = scene.cells, scene.cells.unit
    where = c.cytoplasm * border_fade(c) * np.exp(-c.depth / 0.25)
    _puncta(scene, where, 2.2, 1.35 * u, lambda n: scene.rng.uniform(0.5, 1.0, n))
    return 0.04 * c.cytoplasm


def mitochondria(scene):
    """Many short worm-like tubules, denser around the nucleus."""
    c, u, rng = scene.cells, scene.cells.unit, scene.rng
    where = c.cytoplasm * border_fade(c) * (0.3 + 0.7 * np.exp(-c.depth / 0.5)) * (1.0 - c.mitotic)
    x, y = c.sample(where, density=2.4)
    _segments(scene, x, y, rng.uniform(0, np.pi, x.size), rng.uniform(2.0, 6.0, x.size) * u,
              0.6 * u, rng.uniform(0.6, 1.0, x.size))
    return 0.05 * c.cytoplasm


def cytoplasmic_bodies(scene):
    """A few large bright dots per cell."""
    c, u = scene.cells, scene.cells.unit
    _puncta(scene, c.cytoplasm * border_fade(c), 0.1, scene.rng.uniform(1.6, 2.2) * u,
            lambda n: scene.rng.uniform(0.8, 1.0, n))
    return 0.04 * c.cytoplasm


def lipid_droplets(scene):
    """Round droplets: rims when large, solid blobs when small."""
    c, u, rng = scene.cells, scene.cells.unit, scene.rng
    x, y = c.sample(c.cytoplasm * border_fade(c) * (1.0 - c.mitotic), density=0.35)
    radius = rng.uniform(1.0, 3.5, x.size) * u
    big = radius > 1.8 * u
    _rings(scene, x[big], y[big], radius[big], 0.65 * u, 0.8)
    scene.spots.add(x[~big], y[~big], 0.8, 1.2 * u)
    return 0.03 * c.cytoplasm


def rods_and_rings(scene):
    """One to a few small rods and rings per cell."""
    c, u, rng = scene.cells, scene.cells.unit, scene.rng
    x, y = c.sample(c.cytoplasm * border_fade(c) * (1.0 - c.mitotic), density=0.07)
    ring = rng.random(x.size) < 0.5
    _rings(scene, x[ring], y[ring], rng.uniform(1.8, 2.8, ring.sum()) * u, 0.6 * u, 0.9)
    rods = ~ring
    _segments(scene, x[rods], y[rods], rng.uniform(0, np.pi, rods.sum()),
              rng.uniform(5.0, 9.0, rods.sum()) * u, 0.6 * u, 0.9)
    return 0.03 * c.cytoplasm


# ------------------------------------------------------ fills and outlines
def cytosol(scene):
    """Fills the cytoplasm with fine grain, fainter over the nucleus."""
    c = scene.cells
    fill = c.cytoplasm * (1.0 - 0.5 * c.depth**2) + 0.3 * c.nucleus
    return fill * _texture(scene, 0.5, 0.25) * _texture(scene, 2.0, 0.35)


def plasma_membrane(scene):
    """Outlines every cell, at free and shared borders alike."""
    c = scene.cells
    rim = np.exp(-((c.edge / line_width(c, 1.0)) ** 2)) * c.inside
    return rim * _texture(scene, 0.8, 0.4) + 0.08 * c.cytoplasm


def cell_junctions(scene):
    """Outlines only where two cells touch."""
    c = scene.cells
    rim = np.exp(-((c.edge / line_width(c, 1.1)) ** 2)) * c.inside * c.junction
    return rim * _texture(scene, 0.8, 0.4) + 0.04 * c.cytoplasm


PATTERNS = (
    nucleoplasm,
    nuclear_membrane,
    nucleoli,
    nucleoli_fibrillar_center,
    nuclear_speckles,
    nuclear_bodies,
    endoplasmic_reticulum,
    golgi_apparatus,
    peroxisomes,
    endosomes,
    lysosomes,
    intermediate_filaments,
    actin_filaments,
    focal_adhesion_sites,
    microtubules,
    microtubule_ends,
    cytokinetic_bridge,
    mitotic_spindle,
    microtubule_organizing_center,
    centrosome,
    lipid_droplets,
    plasma_membrane,
    cell_junctions,
    mitochondria,
    aggresome,
    cytosol,
    cytoplasmic_bodies,
    rods_and_rings,
)

"""Where the cells of one synthetic field of view are: seeds, territories, borders.

A field holds a few to a few dozen cultured cells. Each cell is a region of a
multiplicatively weighted Voronoi diagram around a jittered lattice of seeds,
drawn in warped coordinates so borders bend; dropping seeds leaves gaps of
background as in sub-confluent cultures. A few cells may be in mitosis
(smaller, round) or be a pair of daughter cells just after division. What is
inside each cell (nucleus, nucleoli, MTOC) is added by
:class:`hpa.synthesis.cells.Cells`.

All lengths are given in *reference pixels* of a 256 px image and scaled by
``unit = size / 256``, so every size shows the same field at a different
resolution, like the Kaggle images downscaled from the microscope's.

Per-pixel results are (S, S) float32 arrays; per-cell ones are (K,) arrays.
"""
import numpy as np

from hpa.synthesis.fields import gradient_squared, length, smooth_field

INTERPHASE, MITOTIC, DAUGHTER = 0, 1, 2


class CellLayout:
    """The cell territories of one field of view.

    Per cell (K,): ``kind`` (INTERPHASE, MITOTIC or DAUGHTER), ``radius``,
    Voronoi seed ``seed_x, seed_y`` (warped coordinates) and
    ``seed_image_x, seed_image_y`` (image coordinates), ``partner`` (the
    other daughter, or -1).

    Per pixel (S, S): ``x, y`` (pixel centres), ``label`` (owning cell),
    ``inside`` (soft cell mask), ``edge`` (px to the cell border),
    ``junction`` (1 where the nearest border is shared with another cell),
    ``warp_x, warp_y`` (the warp of the coordinates).
    """

    def __init__(self, rng, size, mitotic=False, division=False):
        self.rng = rng
        self.size = size
        self.unit = size / 256.0
        coords = np.arange(size, dtype=np.float32) + 0.5
        self.x = np.broadcast_to(coords[None, :], (size, size))
        self.y = np.broadcast_to(coords[:, None], (size, size))
        self._seed_cells(mitotic, division)
        self._partition()

    def _seed_cells(self, want_mitotic, want_division):
        rng, u, size = self.rng, self.unit, self.size
        radius = rng.uniform(30.0, 50.0) * u
        spacing = 1.8 * radius
        confluence = rng.uniform(0.6, 1.0) if rng.random() < 0.5 else 1.0
        # Hexagonal lattice covering the image and one spacing around it.
        rows = np.arange(-spacing, size + spacing, spacing * 0.866)
        cols = np.arange(-spacing, size + spacing, spacing)
        gy, gx = np.meshgrid(rows, cols, indexing="ij")
        gx = gx + (np.arange(len(rows))[:, None] % 2) * spacing / 2
        sx = gx.ravel() + rng.uniform(-0.3, 0.3, gx.size) * spacing
        sy = gy.ravel() + rng.uniform(-0.3, 0.3, gy.size) * spacing
        keep = rng.random(sx.size) < confluence
        inner = (sx > 0.2 * size) & (sx < 0.8 * size) & (sy > 0.2 * size) & (sy < 0.8 * size)
        keep[rng.choice(np.flatnonzero(inner))] = True  # never an empty field
        sx, sy = sx[keep], sy[keep]
        inner = inner[keep]
        k = sx.size
        rad = radius * np.exp(rng.normal(0.0, 0.12, k))
        kind = np.zeros(k, dtype=np.int64)
        partner = np.full(k, -1, dtype=np.int64)

        free = list(rng.permutation(np.flatnonzero(inner)))
        n_mitotic = (1 + (rng.random() < 0.3)) if want_mitotic else int(rng.random() < 0.25)
        for _ in range(min(n_mitotic, len(free))):
            i = free.pop()
            kind[i] = MITOTIC
            rad[i] *= 0.7
        pairs = rng.integers(1, 3) if want_division else int(rng.random() < 0.15)
        for _ in range(min(pairs, len(free))):
            # One seed becomes two small round daughters side by side.
            i = free.pop()
            angle = rng.uniform(0, np.pi)
            small = rad[i] * 0.62
            off = np.array([np.cos(angle), np.sin(angle)]) * small * 1.05
            sx = np.append(sx, sx[i] - off[0])
            sy = np.append(sy, sy[i] - off[1])
            sx[i] += off[0]
            sy[i] += off[1]
            rad[i] = small
            rad = np.append(rad, small)
            kind[i] = DAUGHTER
            kind = np.append(kind, DAUGHTER)
            partner[i] = k
            partner = np.append(partner, i)
            k += 1
        self.seed_x = sx.astype(np.float32)
        self.seed_y = sy.astype(np.float32)
        self.radius = rad.astype(np.float32)
        self.kind = kind
        self.partner = partner
        self.count = k
        self.mean_radius = radius

    def _partition(self):
        """Assign pixels to cells; find borders and shared borders."""
        rng, size, u = self.rng, self.size, self.unit
        bumps = max(2, int(round(size / self.mean_radius)))
        amp = 0.22 * self.mean_radius
        self.warp_x = smooth_field(rng, size, bumps, amplitude=amp)
        self.warp_y = smooth_field(rng, size, bumps, amplitude=amp)
        wx = self.x + self.warp_x
        wy = self.y + self.warp_y

        # Candidates: the 3 nearest seeds at the centre of each block of
        # step x step pixels (6 px at 256 px, small next to the smallest
        # cells); exact distances are then needed only for those.
        step = max(2, size // 40)
        half = step // 2
        cx = wx[half::step, half::step][..., None]
        cy = wy[half::step, half::step][..., None]
        coarse = length(cx - self.seed_x, cy - self.seed_y) / self.radius  # (S/step, S/step, K)
        nearest = np.argpartition(coarse, min(2, self.count - 1), axis=-1)[..., :3]
        nearest = np.moveaxis(nearest, -1, 0)  # (3, S/step, S/step)

        # Seed x, y, 1/radius and index of each candidate, blown up from
        # blocks to pixels in one copy: (4, 3, S, S).
        per_cell = np.stack([self.seed_x, self.seed_y, 1.0 / self.radius,
                             np.arange(self.count, dtype=np.float32)])[:, nearest]
        n, m, blocks = per_cell.shape[:3]
        per_cell = np.broadcast_to(per_cell[:, :, :, None, :, None], (n, m, blocks, step, blocks, step))
        sx, sy, inv_r, index = per_cell.reshape(n, m, blocks * step, blocks * step)[..., :size, :size]
        d = length(wx - sx, wy - sy) * inv_r
        # The nearest and second-nearest of (up to) three candidates.
        if m == 1:
            d1, d2, label = d[0], np.full_like(d[0], 10.0), index[0]
        else:
            closer = d[1] < d[0]
            d1 = np.where(closer, d[1], d[0])
            d2 = np.where(closer, d[0], d[1])
            label = np.where(closer, index[1], index[0])
            if m == 3:
                third = d[2] < d1
                d2 = np.where(third, d1, np.minimum(d2, d[2]))
                d1 = np.where(third, d[2], d1)
                label = np.where(third, index[2], label)
        self.label = label.astype(np.int32)

        # Cells end where they meet a neighbour or at a lumpy outer limit.
        reach = 1.0 + 0.12 * smooth_field(rng, size, 2 * bumps)
        reach = np.where(self.kind[self.label] == MITOTIC, 0.92, reach)
        gap = d2 - d1
        shared = gap / (np.sqrt(gradient_squared(gap)) + 1e-6)  # px to the shared border
        free = (reach - d1) * self.radius[self.label]  # px to the outer limit
        self.edge = np.maximum(np.minimum(shared, free), 0.0).astype(np.float32)
        self.inside = np.clip(free / (1.5 * u) + 0.5, 0.0, 1.0).astype(np.float32)
        self.junction = ((shared < free) & (free > 0)).astype(np.float32)
        self.seed_image_x, self.seed_image_y = self._unwarp(self.seed_x, self.seed_y)

    def _unwarp(self, wx, wy):
        """Image position whose warped position is (wx, wy): fixed point."""
        x, y = wx.copy(), wy.copy()
        top = self.size - 1
        for _ in range(4):
            i = np.clip(y.astype(np.int64), 0, top)
            j = np.clip(x.astype(np.int64), 0, top)
            x = wx - self.warp_x[i, j]
            y = wy - self.warp_y[i, j]
        return x, y

    # ----------------------------------------------------------- helpers
    def sample(self, weight, density):
        """Random points where ``weight`` (S, S) >= 0 is large.

        ``density`` is the expected number of points per 100 reference px^2
        of full weight. Returns x, y float arrays (pixel coordinates).
        """
        cdf = np.cumsum(weight, dtype=np.float64).ravel()
        total = cdf[-1]
        if total <= 0:
            return np.zeros(0), np.zeros(0)
        n = self.rng.poisson(density * total / (100.0 * self.unit**2))
        flat = np.searchsorted(cdf, self.rng.uniform(0, total, n), side="right")
        flat = np.minimum(flat, cdf.size - 1)
        y, x = np.divmod(flat, self.size)
        return x + self.rng.random(n), y + self.rng.random(n)

    def table_coords(self, scale, stretch=1.0, angle=None):
        """Per-cell random window into the noise table, at ``scale`` table
        units per pixel; optionally stretched by ``stretch`` along ``angle``
        (per-cell radians) so structures run along that direction."""
        off = self.rng.uniform(0, 256, (2, self.count)).astype(np.float32)
        ox, oy = off[:, self.label]
        if angle is None:
            return self.x * scale + ox, self.y * scale + oy
        c = np.cos(angle)[self.label]
        s = np.sin(angle)[self.label]
        along = self.x * c + self.y * s
        across = -self.x * s + self.y * c
        return along * (scale / stretch) + ox, across * scale + oy

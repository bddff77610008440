"""Several data sources in one run: the Kaggle ``train/`` folder and an HPAv18 external folder.

Each source keeps its own layout, file type and image cache (built by
:func:`hpa.data.cache.source.cached_images`); :func:`union_of` puts them side by
side without copying a pixel:

    source 0: rows 0 .. N0-1,   source 1: rows N0 .. N0+N1-1,  ...

* ``ids``, ``labels`` (N, 28): concatenated, so splits, oversampling and
  thresholds work over the union exactly as over one folder;
* ``images``: a :class:`StackedImages`, which reads a row from its source's
  memory-mapped cache only when a batch asks for it;
* ``groups`` (N,) int: the source of each row, for per-source normalisation
  statistics (the HPAv18 images are brighter and noisier than Kaggle's, and
  the winning solutions normalised each set with its own mean and std);
* an Id present in two sources is an error naming both: the same field of
  view twice would sit in training and validation at once.
"""
import numpy as np

from hpa.runtime.errors import HpaError


class StackedImages:
    """Read-only row concatenation of image arrays (N_k, C, S, S) of one shape and dtype.

    Supports what the loaders use: ``shape``, ``dtype``, ``len``, and indexing
    by an int, a slice or an int array (rows in any order, repeats allowed).
    """

    def __init__(self, parts):
        parts = list(parts)
        shapes = {tuple(p.shape[1:]) for p in parts}
        dtypes = {np.dtype(p.dtype) for p in parts}
        if len(shapes) != 1 or len(dtypes) != 1:
            raise HpaError(f"sources must share image size and type, got {sorted(shapes)} {sorted(map(str, dtypes))}")
        self.parts = parts
        self.offsets = np.cumsum([0] + [len(p) for p in parts])
        self.shape = (int(self.offsets[-1]), *shapes.pop())
        self.dtype = dtypes.pop()
        self.ndim = 4

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return self[np.array([key])][0]
        rows = np.arange(len(self))[key] if isinstance(key, slice) else np.asarray(key, np.int64)
        if rows.ndim != 1:
            raise HpaError(f"StackedImages: index with an int, a slice or a 1-D int array, got {key!r}")
        part = np.searchsorted(self.offsets, rows, side="right") - 1
        out = np.empty((len(rows), *self.shape[1:]), self.dtype)
        for k in np.unique(part):
            chosen = np.flatnonzero(part == k)
            out[chosen] = self.parts[k][rows[chosen] - self.offsets[k]]
        return out


class UnionCache:
    """Several opened image caches as one (see the module docstring)."""

    def __init__(self, caches, names):
        self.caches, self.names = list(caches), [str(n) for n in names]
        check_distinct_ids([c.ids for c in self.caches], self.names)
        self.ids = [i for c in self.caches for i in c.ids]
        self.labels = np.concatenate([c.labels for c in self.caches])
        self.images = StackedImages([c.images for c in self.caches])
        self.groups = np.repeat(np.arange(len(self.caches)), [len(c) for c in self.caches])
        self.path = ", ".join(str(c.path) for c in self.caches)

    def __len__(self):
        return len(self.ids)

    def local_rows(self, rows, source):
        """The rows of ``rows`` (union numbering) that come from ``source``, in that source's numbering."""
        rows = np.asarray(rows)
        mine = rows[self.groups[rows] == source]
        return mine - self.images.offsets[source]


def check_distinct_ids(id_lists, names):
    """Raise ``HpaError`` naming both sources of the first Id found in two of them."""
    seen = {}
    for ids, name in zip(id_lists, names):
        for sample_id in ids:
            if sample_id in seen and seen[sample_id] != name:
                raise HpaError(f"Id {sample_id} is in two sources: {seen[sample_id]} and {name}")
            seen[sample_id] = name


def union_of(caches, names):
    """One cache as it is (one source), or a :class:`UnionCache` of several."""
    return caches[0] if len(caches) == 1 else UnionCache(caches, names)

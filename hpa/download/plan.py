"""What to download: the HPAv18 labels, each image's URL and file, a stratified ``--limit``, and its disk size.

The HPAv18 labels file (``Id,Target``, 71,437 rows) names every field of
view by ``<antibody>_<plate>_<well>_<field>``, e.g. ``10580_1610_C1_1``. The
Atlas serves the field's stain of colour ``c`` at

    <base>/<antibody>/<plate>_<well>_<field>_<c>.jpg

(split at the first underscore), and it is kept as ``<Id>_<c>.jpg``, the
external-data layout hpa's reader takes as it is.

``--limit N`` keeps N samples that still show every class: the rarest
classes are covered first (one sample each, the one with the fewest other
labels), then the rest is drawn by iterative stratification
(:mod:`hpa.data.batches.splits`), so each class keeps close to its share.
"""
import os
import pathlib
import urllib.parse
from dataclasses import dataclass, field

import numpy as np

from hpa.data.batches.splits import iterative_stratification
from hpa.data.reading.dataset import read_labels_csv
from hpa.data.reading.labels import CHANNELS
from hpa.runtime.errors import HpaError

DEFAULT_BASE_URL = "http://v18.proteinatlas.org/images"
LABELS_NAME = "HPAv18RGBY_WithoutUncertain_wodpl.csv"
# Mean bytes of one sample's four JPEGs, measured on the one real HPAv18
# sample in shared/hpa-real/external (800_A6_1: 1,205,858 bytes; blue is the
# smallest file at 55 kB, yellow the largest at 583 kB). One field is a small
# basis: --dry-run says the figure is an estimate.
BYTES_PER_SAMPLE = 1_205_858


def default_labels():
    """The HPAv18 labels in ``shared/hpa-real`` beside the checkout, or None."""
    path = pathlib.Path(__file__).resolve().parents[3] / "shared" / "hpa-real" / LABELS_NAME
    return path if path.is_file() else None


@dataclass
class Plan:
    """ids (N,) and labels uint8 (N, 28) of the samples to fetch, and where from."""
    ids: list
    labels: np.ndarray
    base_url: str
    out: str
    total: int          # rows in the labels file
    all_ids: frozenset = field(default=frozenset(), repr=False)  # every Id of the labels file

    def url(self, sample_id, colour):
        """The address of ``sample_id``'s ``colour`` stain on the server."""
        antibody, sep, rest = sample_id.partition("_")
        if not sep or not antibody or not rest:
            raise HpaError(f"Id {sample_id!r} is not <antibody>_<plate>_<well>_<field>")
        quote = urllib.parse.quote
        return f"{self.base_url.rstrip('/')}/{quote(antibody)}/{quote(rest)}_{colour}.jpg"

    def path(self, sample_id, colour):
        return os.path.join(self.out, f"{sample_id}_{colour}.jpg")

    def files(self, i):
        """[(colour, url, path)] of sample ``i``, in channel order."""
        sample_id = self.ids[i]
        return [(c, self.url(sample_id, c), self.path(sample_id, c)) for c in CHANNELS]


def make_plan(labels_csv, out, base_url, limit=None, seed=0):
    """Read ``labels_csv`` and choose the samples (all, or a stratified ``limit``)."""
    ids, labels = read_labels_csv(labels_csv)
    for sample_id in ids:  # a bad Id is reported before any download starts
        antibody, sep, rest = sample_id.partition("_")
        if not sep or not antibody or not rest or "/" in sample_id or sample_id.startswith("."):
            raise HpaError(f"{labels_csv}: Id {sample_id!r} is not <antibody>_<plate>_<well>_<field>")
    total, all_ids = len(ids), frozenset(ids)
    if limit is not None and limit < total:
        keep = stratified_subset(labels, limit, seed)
        ids, labels = [ids[i] for i in keep], labels[keep]
    return Plan(ids, labels, base_url, os.fspath(out), total, all_ids)


def stratified_subset(labels, n, seed=0):
    """Sorted indices of ``n`` rows of ``labels`` (N, C) that cover every class present.

    Coverage first, rarest class first: a class not yet covered gets the
    sample carrying it with the fewest labels (random among equals; N >= C
    suffices, often fewer). The rest of the ``n`` comes from an iterative
    stratification of the other samples into a part of that size, trimmed
    or topped up at random to exactly ``n``.
    """
    y = np.asarray(labels, dtype=bool)
    rng = np.random.default_rng(seed)
    chosen = np.zeros(len(y), dtype=bool)
    per_sample = y.sum(axis=1)
    for c in np.argsort(y.sum(axis=0), kind="stable"):
        if chosen.sum() >= n:
            break
        carriers = np.flatnonzero(y[:, c])
        if len(carriers) == 0 or y[chosen, c].any():
            continue
        rank = np.lexsort((rng.random(len(carriers)), per_sample[carriers]))
        chosen[carriers[rank[0]]] = True
    rest = np.flatnonzero(~chosen)
    wanted = n - int(chosen.sum())
    if wanted > 0 and len(rest) > wanted:
        part = iterative_stratification(y[rest], [wanted, len(rest) - wanted], seed) == 0
        picked, others = rest[part], rest[~part]
        if len(picked) > wanted:
            picked = rng.choice(picked, wanted, replace=False)
        elif len(picked) < wanted:
            picked = np.concatenate([picked, rng.choice(others, wanted - len(picked), replace=False)])
        chosen[picked] = True
    elif wanted > 0:
        chosen[rest] = True
    return np.flatnonzero(chosen)


def describe(plan):
    """Lines for ``--dry-run``: counts, classes and the estimated disk size."""
    n = len(plan.ids)
    counts = plan.labels.sum(axis=0)
    present = int((counts > 0).sum())
    size = n * BYTES_PER_SAMPLE
    rare = ", ".join(f"{c}: {int(counts[c])}" for c in np.argsort(counts, kind="stable")[:5] if counts[c])
    return [
        f"{n:,} of {plan.total:,} samples, {n * len(CHANNELS):,} files from {plan.base_url}",
        f"classes present: {present} of {len(counts)} (rarest: {rare})",
        f"estimated size: {_size(size)} ({size:,} bytes at {BYTES_PER_SAMPLE:,} bytes per sample, "
        f"the mean of the real HPAv18 sample in shared/hpa-real: an estimate)",
        f"into {plan.out}",
    ]


def _size(count):
    return f"{count / 1e9:.1f} GB" if count >= 1e9 else f"{count / 1e6:.1f} MB"

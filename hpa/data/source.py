"""From ``--data DIR`` to a resized image cache, in the cache folder (``$HPA_CACHE`` or ``~/.cache/hpa``).

With no ``--data`` the commands generate the built-in synthetic HPA-like set
there first (:func:`hpa.synthetic.cached.synthetic_data`) and read it through
exactly the same Kaggle-layout path as real data.
"""
import hashlib
import os
import pathlib

from hpa.data.cache import build_cache
from hpa.data.dataset import open_dataset
from hpa.data.imageio import parse_intensity
from hpa.errors import HpaError


def cache_root(path=None):
    """The folder for synthetic data and image caches."""
    if path:
        return pathlib.Path(path)
    return pathlib.Path(os.environ.get("HPA_CACHE") or pathlib.Path.home() / ".cache" / "hpa")


def cached_images(data, image_size, split="train", root=None, workers=None, skip_bad=False,
                  progress=True, intensity="fixed"):
    """Open ``data`` (a Kaggle or HPA-external folder) and return its size-``image_size`` cache.

    ``intensity``: how 16-bit originals become 8-bit (:func:`hpa.data.imageio.parse_intensity`);
    each rule has its own cache.
    """
    parse_intensity(intensity)
    dataset = open_dataset(data, split=split, skip_bad=skip_bad)
    dataset.intensity = intensity
    if dataset.skipped:
        print(f"skipped {len(dataset.skipped)} incomplete samples (see the warning above)")
    # One cache folder per source folder and split, named by its absolute path.
    source = os.path.abspath(os.fspath(data))
    key = f"{source}|{split}" + ("" if intensity == "fixed" else f"|{intensity}")  # old caches stay valid
    tag = hashlib.sha1(key.encode()).hexdigest()[:12]
    folder = cache_root(root) / "images" / f"{pathlib.Path(source).name}-{split}-{tag}"
    cache = build_cache(dataset, image_size, folder, workers=workers, skip_bad=skip_bad,
                        progress=progress)
    if split == "train" and cache.labels is None:
        raise HpaError(f"{data}: training needs labels, but no label CSV was found")
    return cache

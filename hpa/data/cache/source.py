"""From ``--data DIR`` to a resized image cache, in the cache folder (``$HPA_CACHE`` or ``~/.cache/hpa``).

With no ``--data`` the commands generate the built-in synthetic HPA-like set
there first (:func:`hpa.synthesis.cached.synthetic_data`) and read it through
exactly the same Kaggle-layout path as real data.
"""
import hashlib
import os
import pathlib

from hpa.data.cache.build import build_cache
from hpa.data.reading.dataset import open_dataset
from hpa.data.reading.imageio import parse_intensity
from hpa.runtime.errors import HpaError


def cache_root(path=None):
    """The folder for synthetic data and image caches."""
    if path:
        return pathlib.Path(path)
    return pathlib.Path(os.environ.get("HPA_CACHE") or pathlib.Path.home() / ".cache" / "hpa")


# Bytes of the data folder's name that a cache folder's name keeps: with the split and the hash,
# the name stays far below the 255 bytes a file name may have.
NAME_PREFIX_BYTES = 64


def cache_folder_name(data, split, intensity="fixed"):
    """``<data folder's name>-<split>-<hash>``: one cache folder per source folder, split and intensity rule.

    The hash is of the absolute path (so two folders of one name get two
    caches); the readable name is cut to :data:`NAME_PREFIX_BYTES` bytes of
    UTF-8 (whole characters), so a long folder name still gives a valid one.
    """
    source = os.path.abspath(os.fspath(data))
    key = f"{source}|{split}" + ("" if intensity == "fixed" else f"|{intensity}")  # old caches stay valid
    tag = hashlib.sha1(key.encode()).hexdigest()[:12]
    name = pathlib.Path(source).name[:NAME_PREFIX_BYTES]
    while len(os.fsencode(name)) > NAME_PREFIX_BYTES:  # multi-byte characters: cut whole ones
        name = name[:-1]
    return f"{name}-{split}-{tag}"


def cached_images(data, image_size, split="train", root=None, workers=None, skip_bad=False,
                  progress=True, intensity="fixed"):
    """Open ``data`` (a Kaggle or HPA-external folder) and return its size-``image_size`` cache.

    ``intensity``: how 16-bit originals become 8-bit (:func:`hpa.data.reading.imageio.parse_intensity`);
    each rule has its own cache.
    """
    parse_intensity(intensity)
    dataset = open_dataset(data, split=split, skip_bad=skip_bad)
    dataset.intensity = intensity
    if dataset.skipped:
        print(f"skipped {len(dataset.skipped)} incomplete samples (see the warning above)")
    folder = cache_root(root) / "images" / cache_folder_name(data, split, intensity)
    cache = build_cache(dataset, image_size, folder, workers=workers, skip_bad=skip_bad,
                        progress=progress)
    if split == "train" and cache.labels is None:
        raise HpaError(f"{data}: training needs labels, but no label CSV was found")
    return cache

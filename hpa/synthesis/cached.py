"""The synthetic set in the cache folder: generated on first use, read like real data afterwards.

``hpa.data`` reads folders and knows nothing of where they came from; this
module is the one place that puts a synthetic folder where the commands find it.
"""
from hpa.data.cache.source import cache_root
from hpa.synthesis.generate import generate


def synthetic_data(n, size, seed, root=None, progress=True):
    """Folder of the synthetic set (n samples of size px), generated if absent.

    ``generate`` writes ``train.csv`` last and atomically, so a folder with a
    CSV is complete; an interrupted generation is simply redone.
    """
    folder = cache_root(root) / f"synthetic-n{n}-s{size}-seed{seed}"
    if not (folder / "train.csv").is_file():
        print(f"generating the synthetic HPA-like data set ({n} samples, {size} px) in {folder}")
        generate(folder, n=n, size=size, seed=seed, progress=progress)
    return folder

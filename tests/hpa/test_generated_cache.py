"""hpa.bench.generated_cache: a training set written straight into the cache format, which the
training commands reuse without decoding a single image."""
import numpy as np

import hpa.data.cache.build
from hpa.bench.generated_cache import BANK, generated_training_set
from hpa.data.cache.source import cached_images


def test_the_training_commands_reuse_the_generated_cache_without_decoding(tmp_path, monkeypatch):
    folder = generated_training_set(tmp_path, BANK + 6, 8)

    def no_decoding(*args):
        raise AssertionError("the cache was rebuilt from the (empty) image files")
    monkeypatch.setattr(hpa.data.cache.build, "_fill", no_decoding)
    cache = cached_images(folder, 8, root=tmp_path, progress=False)
    assert cache.images.shape == (BANK + 6, 4, 8, 8) and cache.images.dtype == np.uint8
    np.testing.assert_array_equal(cache.images[BANK:], cache.images[:6])  # the bank repeats
    assert len(np.unique(cache.images[:BANK].reshape(BANK, -1), axis=0)) == BANK
    assert cache.labels.shape == (BANK + 6, 28) and set(cache.labels.sum(axis=1)) <= {1, 2, 3}
    assert generated_training_set(tmp_path, BANK + 6, 8) == folder  # complete: reused as it is

"""A command whose image cache is built slowly, for tests that interrupt or race the build.

    python slow_cache_build.py COUNT_FILE train ARGS...   # python -m hpa.train ARGS
    python slow_cache_build.py COUNT_FILE cache DATA CACHE_DIR

Every resized sample sleeps a little and appends a line to COUNT_FILE, so a
test can see the build running and count how many samples were decoded.
"""
import sys
import time

import hpa.data.cache.build as cache_module
from hpa import train
from hpa.data.cache.source import cached_images
from hpa.runtime import cli

DELAY_S = 0.05
_resize_area = cache_module.resize_area


def slow_resize(image, size):
    with open(sys.argv[1], "a") as f:
        f.write("sample\n")
    time.sleep(DELAY_S)
    return _resize_area(image, size)


def build_only(argv):
    data, cache_dir = argv
    cache = cached_images(data, 16, root=cache_dir, workers=1, progress=False)
    print(f"cached {len(cache)} samples")


if __name__ == "__main__":
    cache_module.resize_area = slow_resize  # workers are forked, so they see it too
    command, argv = sys.argv[2], sys.argv[3:]
    sys.exit(cli.run(train.main if command == "train" else build_only, argv))

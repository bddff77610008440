"""The image cache: every sample decoded and resized once, then read as one memory-mapped array.

    format      a cache's files and manifest; opening a complete cache
    build       building a cache of decoded, resized images, resumably, in parallel
    lock        one builder per cache (a file lock)
    disk_space  a cache's disk space reserved before it is written
    source      the cache folder, and ``--data DIR`` -> its cache
    union       several sources' caches as one, each with its own statistics
"""

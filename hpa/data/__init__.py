"""From files on disk to normalised batches, in four steps that import only the ones before.

    reading       files -> arrays: the 28 classes and ``Target`` labels, sample Ids, channel
                  file names, image files, a folder in the Kaggle or HPAv18 layout
    cache         decoded, resized images in one memory-mapped array per source, built
                  resumably and in parallel; ``--data`` folders to caches; several in one run
    augmentation  random changes of a batch: flips, turns, brightness, contrast, noise, blur,
                  affine warps, by name for the command line, one random stream per image
    batches       splits, rare-class oversampling, and seeded, prefetching batches of
                  normalised float32 images (one rank's share for data-parallel runs)
"""

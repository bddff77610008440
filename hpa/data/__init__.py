"""From files on disk to normalised batches.

    labels        the 28 classes, the four stains, ``Target`` strings and label matrices
    imageio       one image file -> uint8 array, with one-line errors
    dataset       a folder in the Kaggle or HPAv18 layout -> Ids, labels, file paths
    cache_format  a cache's files and manifest; opening a complete cache
    cache         building a cache of decoded, resized images, resumably, in parallel
    source        the folders a run reads (or the synthetic default), cached
    augment       the augmentation framework; flips, 90-degree turns, brightness, contrast
    noise_blur    Gaussian noise and blur augmentations
    affine        bilinear affine warps, and rotation, crop and affine augmentations
    loader        seeded, prefetching batches of normalised float32 images
    sharded_loader  one rank's slice of every batch, for data-parallel runs
    sampling      rare-class oversampling
    splits        iterative-stratification hold-out and K-fold splits
"""

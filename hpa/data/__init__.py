"""From files on disk to normalised batches.

    labels      the 28 classes, the four stains, ``Target`` strings and label matrices
    imageio     one image file -> uint8 array, with one-line errors
    dataset     a folder in the Kaggle or HPAv18 layout -> Ids, labels, file paths
    cache       decoded, resized images in one resumable memory-mapped array
    source      the folders a run reads (or the synthetic default), cached
    augment     random flips, rotations, crops, intensity changes (``affine`` warps)
    loader      seeded, prefetching batches of normalised float32 images
    sampling    rare-class oversampling
    splits      iterative-stratification hold-out and K-fold splits
"""

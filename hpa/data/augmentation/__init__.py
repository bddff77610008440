"""Random augmentations of batches (B, 4, H, W).

    augment     the framework; flips, 90-degree turns, brightness, contrast
    noise_blur  Gaussian noise and blur
    affine      bilinear affine warps, and rotation, crop and affine augmentations
    names       augmentations by name, for ``--augment``
    streams     one random stream per image, so a result never depends on the batch
"""

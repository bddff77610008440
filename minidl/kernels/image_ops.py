"""Augment and normalise a uint8 image batch where it lies (kernels of ``image_augment.cu``).

    out = augment_images(x, element, gain, factor, scale, shift)      # x uint8 (N, C, S, S)

A data loader that sends uint8 images to the GPU (a quarter of the bytes of
float32) hands the per-image parameters it drew along with them; this turns
them into the float batch the network reads, in three launches:

    out[n, c] = a * dihedral_g(x[n, c]) + d + amp * z,
    a = gain * factor * scale,   d = gain * mean(x[n, c]) * (1 - factor) * scale + shift

that is: the dihedral element ``g = element[n]`` (NumPy's ``rot90(., g % 4)``
on the last two axes, then for g >= 4 a left-right flip), a brightness gain, a
contrast factor about the plane's own mean (brightness and contrast commute,
since the mean scales with the gain), the normalisation ``v * scale + shift``
(scale = 1/std, shift = -mean/std of the data set), and Gaussian noise of
standard deviation ``amp`` on the output scale, drawn with Philox from the
image's key (see the kernel's header). Neutral values: g = 0, gain = factor =
1, amp = 0.

Arrays (all on x's device, C-contiguous): element int32 (N,); gain, factor,
scale, shift, noise_amp (N, C) of the output's float type; noise_key int32
(N, 2), the two 32-bit key words of each image; noise_shared int32 (N,), 1
when the channels of an image share one noise image. Works on CuPy arrays, the
test suite's fake device, and NumPy arrays (the CPU shim).
"""
from minidl import backend
from minidl.kernels.launch import launch

# Pixels per partial sum of a plane: 4096 * 255 < 2^24, so each is exact in float32.
SUM_CHUNK = 4096


def plane_means_affine(x, gain, factor, scale, shift):
    """(a, d) (N, C): the multiply-add of every plane (kernels plane_partial_sums, plane_affine)."""
    xp = backend.get_array_module(x)
    n, c, h, w = x.shape
    planes, plane_size = n * c, h * w
    chunks = -(-plane_size // SUM_CHUNK)
    partial = xp.empty((planes, chunks), dtype=gain.dtype)
    launch("plane_partial_sums", planes * chunks, x, partial, planes, plane_size, chunks)
    a, d = xp.empty((n, c), dtype=gain.dtype), xp.empty((n, c), dtype=gain.dtype)
    launch("plane_affine", planes, partial, gain, factor, scale, shift, a, d, planes, chunks, plane_size)
    return a, d


def augment_images(x, element, gain, factor, scale, shift, noise_amp=None, noise_key=None, noise_shared=None):
    """The augmented, normalised float batch (N, C, S, S) of uint8 ``x``; arguments as in the module doc."""
    xp = backend.get_array_module(x)
    n, c, h, w = x.shape
    if h != w:
        raise ValueError(f"augment_images: flips and quarter turns need square images, got {h}x{w}")
    if noise_amp is None:  # no noise: amplitude 0 skips the generator
        noise_amp = xp.zeros((n, c), dtype=gain.dtype)
        noise_key, noise_shared = xp.zeros((n, 2), dtype="int32"), xp.zeros(n, dtype="int32")
    for name, array, shape in (("element", element, (n,)), ("gain", gain, (n, c)), ("factor", factor, (n, c)),
                               ("scale", scale, (n, c)), ("shift", shift, (n, c)), ("noise_amp", noise_amp, (n, c)),
                               ("noise_key", noise_key, (n, 2)), ("noise_shared", noise_shared, (n,))):
        if tuple(array.shape) != shape:
            raise ValueError(f"augment_images: {name} must have shape {shape}, got {tuple(array.shape)}")
    a, d = plane_means_affine(x, gain, factor, scale, shift)
    out = xp.empty(x.shape, dtype=gain.dtype)
    launch("augment_images", out.size, x, out, element, a, d, noise_amp, noise_key, noise_shared, n, c, h)
    return out

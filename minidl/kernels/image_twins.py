"""NumPy twins of ``image_augment.cu`` and their checks (registered in ``twins.CHECKS``).

The twin computes in float64 by another route than the kernels: ``numpy.rot90``
and a flip for the dihedral element (the kernel maps indices), the plane means
with ``mean``, the Philox words with :func:`minidl.kernels.twins.philox4x32_10`.
"""
import numpy

from minidl.kernels import image_ops


def dihedral(x, g):
    """Element ``g`` (0..7) of the square's symmetry group on ``x`` (..., S, S): ``g % 4``
    quarter turns counter-clockwise, then for ``g >= 4`` a left-right flip."""
    out = numpy.rot90(x, g % 4, axes=(-2, -1))
    return out[..., ::-1] if g >= 4 else out


def philox_normal(count, key):
    """The standard normals the kernel draws for pixels 0..count-1 under ``key`` (two uint32
    words): Box-Muller on words 0 and 1 of Philox4x32-10 at counter (index, 0, 0, 0). float64 (count,)."""
    from minidl.kernels.twins import philox4x32_10
    index = numpy.arange(count, dtype=numpy.uint64)
    zero = numpy.zeros_like(index)
    words = philox4x32_10((index & numpy.uint64(0xFFFFFFFF), index >> numpy.uint64(32), zero, zero),
                          (int(key[0]) % 2 ** 32, int(key[1]) % 2 ** 32)).astype(numpy.float64)
    u1 = numpy.floor(words[0] / 256) / 2.0 ** 24 + 2.0 ** -24
    u2 = numpy.floor(words[1] / 256) / 2.0 ** 24
    return numpy.sqrt(-2 * numpy.log(u1)) * numpy.cos(2 * numpy.pi * u2)


def augment_images(x, element, gain, factor, scale, shift, noise_amp, noise_key, noise_shared):
    """What ``image_ops.augment_images`` computes, in float64 (arguments as there)."""
    n, c, s, _ = x.shape
    out = numpy.empty(x.shape, numpy.float64)
    for b in range(n):
        image = dihedral(x[b].astype(numpy.float64), int(element[b]))
        mean = x[b].astype(numpy.float64).mean(axis=(1, 2))
        brightened = image * gain[b][:, None, None]
        contrasted = factor[b][:, None, None] * brightened + ((1 - factor[b]) * gain[b] * mean)[:, None, None]
        out[b] = contrasted * scale[b][:, None, None] + shift[b][:, None, None]
        if numpy.any(noise_amp[b] != 0):
            shared = bool(noise_shared[b])
            z = philox_normal(s * s if shared else c * s * s, noise_key[b]).reshape(1 if shared else c, s, s)
            out[b] += noise_amp[b][:, None, None] * z
    return out


def random_arguments(case, dtype, rng):
    """x and parameters for a check: case = (N, C, S, which transforms are live)."""
    n, c, s, live = case
    real = numpy.dtype(dtype)
    x = rng.integers(0, 256, (n, c, s, s), dtype=numpy.uint8)
    element = (rng.integers(0, 8, n) if "dihedral" in live else numpy.zeros(n)).astype(numpy.int32)
    element[: min(n, 8)] = numpy.arange(min(n, 8)) if "dihedral" in live else 0  # every element seen

    def per_plane(lo, hi, neutral, name):
        return (rng.uniform(lo, hi, (n, c)) if name in live else numpy.full((n, c), neutral)).astype(real)

    gain, factor = per_plane(0.8, 1.2, 1.0, "brightness"), per_plane(0.5, 1.5, 1.0, "contrast")
    scale, shift = rng.uniform(0.01, 0.05, (n, c)).astype(real), rng.uniform(-2, 0, (n, c)).astype(real)
    amp = per_plane(0.0, 0.3, 0.0, "noise")
    if "noise" in live:
        amp[0] = 0  # an image without noise among noisy ones
    key = rng.integers(-2 ** 31, 2 ** 31, (n, 2)).astype(numpy.int32)
    shared = (numpy.arange(n) % 2).astype(numpy.int32)
    return x, element, gain, factor, scale, shift, amp, key, shared


def check_image_augment(target, case, dtype, rng):
    from minidl.kernels.twins import _errors
    args = random_arguments(case, dtype, rng)
    out = image_ops.augment_images(*(target.put(a) for a in args))
    return _errors([(augment_images(*args), target.get(out))])


# family -> (kernels, check, cases): (N, C, S, live transforms)
IMAGE_CHECKS = {
    "augment": (("plane_partial_sums", "plane_affine", "augment_images"), check_image_augment, [
        ("dihedral-8", (9, 2, 5, ("dihedral",))),
        ("brightness", (3, 4, 6, ("brightness",))),
        ("contrast", (3, 4, 6, ("contrast",))),
        ("noise", (4, 3, 6, ("noise",))),
        ("composed", (10, 4, 7, ("dihedral", "brightness", "contrast", "noise"))),
        ("batch1-chunks", (1, 2, 70, ("dihedral", "contrast", "noise"))),  # 4900 px: two partial sums a plane
    ]),
}

// Augmentation and normalisation of uint8 image batches on the device.
//
// NumPy twin: minidl/kernels/image_twins.py (plane_sums, plane_affine, augment_images).
//
// A batch x (N, C, S, S) of uint8 images arrives from the host with, per image n,
// parameters drawn there: a dihedral element g (0..7), and per plane p = (n, c) an
// intensity map v -> a[p] * v + d[p] and a noise amplitude. For brightness gain k,
// contrast factor f about the plane's mean m and normalisation (v - mean) / std:
//     out = ((f (k v) + (1 - f) k m) - mean) / std = a v + d,
//     a = k f / std,   d = k m (1 - f) / std - mean / std
// so the whole chain is one multiply-add per pixel once m is known: three kernels,
//     plane_partial_sums   m's sum, in `chunks` pieces per plane (no shared memory)
//     plane_affine         a and d of every plane from its pieces
//     augment_images       out[n, c, i, j] = a x[n, c, g^-1(i, j)] + d + amp * z
// where z is a standard normal from Philox4x32-10 (philox.cu's generator) keyed by
// the image's two key words, counter = the pixel's index in its noise image:
// (c S + i) S + j, or i S + j when the image's four channels share one noise image.
// Box-Muller turns the block's words 0 and 1 into z = sqrt(-2 ln u1) cos(2 pi u2),
// u1 = (w0 >> 8) 2^-24 + 2^-24 in (0, 1], u2 = (w1 >> 8) 2^-24.
//
// The dihedral element g: g % 4 quarter turns counter-clockwise (NumPy's rot90 on the
// last two axes), then for g >= 4 a left-right flip. Output pixel (i, j) reads:
//     flip first: j' = g >= 4 ? S-1-j : j;  then turns: k=0 (i, j'), k=1 (j', S-1-i),
//     k=2 (S-1-i, S-1-j'), k=3 (S-1-j', i).
//
// Threads: 1-D grids with grid-stride loops; every output is written by exactly one
// thread and read by none, so the serial CPU shim computes what the GPU does.
// The loader compiles this file twice: `real` is float, or double with -DMINIDL_DOUBLE.
#ifdef MINIDL_DOUBLE
typedef double real;
#else
typedef float real;
#endif

#include "philox_rounds.cuh"

extern "C" __global__ void plane_partial_sums(const unsigned char* x, real* partial, int planes, int plane_size,
                                              int chunks)
{
    // Sums of up to 2^16 values of at most 255 are exact in float32 (< 2^24).
    const int chunk = (plane_size + chunks - 1) / chunks;
    const long long total = (long long)planes * chunks;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total;
         t += (long long)blockDim.x * gridDim.x) {
        const long long p = t / chunks;
        const int k = (int)(t - p * chunks);
        const int start = k * chunk;
        const int stop = start + chunk < plane_size ? start + chunk : plane_size;
        const unsigned char* plane = x + p * plane_size;
        unsigned int sum = 0;
        for (int i = start; i < stop; ++i) sum += plane[i];
        partial[t] = (real)sum;
    }
}

extern "C" __global__ void plane_affine(const real* partial, const real* gain, const real* factor,
                                        const real* scale, const real* shift, real* a, real* d,
                                        int planes, int chunks, int plane_size)
{
    for (long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x; p < planes;
         p += (long long)blockDim.x * gridDim.x) {
        double sum = 0;
        for (int k = 0; k < chunks; ++k) sum += partial[p * chunks + k];
        const real mean = (real)(sum / plane_size);
        a[p] = gain[p] * factor[p] * scale[p];
        d[p] = gain[p] * mean * ((real)1 - factor[p]) * scale[p] + shift[p];
    }
}

__device__ __forceinline__ real philox_normal(long long index, word k0, word k1)
{
    word c0 = (word)index, c1 = (word)((unsigned long long)index >> 32), c2 = 0, c3 = 0;
    philox4x32_10(c0, c1, c2, c3, k0, k1);
    const real u1 = (real)(c0 >> 8) * (real)(1.0 / 16777216.0) + (real)(1.0 / 16777216.0);
    const real u2 = (real)(c1 >> 8) * (real)(1.0 / 16777216.0);
    return sqrt((real)-2 * log(u1)) * cos((real)6.283185307179586 * u2);
}

extern "C" __global__ void augment_images(const unsigned char* x, real* out, const int* element, const real* a,
                                          const real* d, const real* noise_amp, const int* noise_key,
                                          const int* noise_shared, int n, int channels, int size)
{
    const long long area = (long long)size * size;
    const long long total = (long long)n * channels * area;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total;
         t += (long long)blockDim.x * gridDim.x) {
        const long long p = t / area;  // the plane (image, channel)
        const int pixel = (int)(t - p * area);
        const int i = pixel / size, j0 = pixel - (pixel / size) * size;
        const int b = (int)(p / channels), c = (int)(p - (long long)b * channels);
        const int g = element[b];
        const int j = g >= 4 ? size - 1 - j0 : j0;
        int si, sj;
        switch (g & 3) {
            case 0: si = i; sj = j; break;
            case 1: si = j; sj = size - 1 - i; break;
            case 2: si = size - 1 - i; sj = size - 1 - j; break;
            default: si = size - 1 - j; sj = i; break;
        }
        real v = a[p] * (real)x[p * area + (long long)si * size + sj] + d[p];
        if (noise_amp[p] != (real)0) {
            const long long index = noise_shared[b] ? pixel : (long long)c * area + pixel;
            v += noise_amp[p] * philox_normal(index, (word)noise_key[2 * b], (word)noise_key[2 * b + 1]);
        }
        out[t] = v;
    }
}

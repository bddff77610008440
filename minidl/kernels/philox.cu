// Uniform random numbers from Philox4x32-10, a counter-based generator
// (Salmon, Moraes, Dror & Shaw 2011, "Parallel random numbers: as easy as 1, 2, 3").
//
// NumPy twin: minidl/kernels/twins.py (philox4x32_10, philox_uniform).
//
// A counter-based generator is a keyed hash: block b of stream s under key k is
//     (w0, w1, w2, w3) = Philox(counter = (b low, b high, s low, s high), key = (k low, k high))
// so any thread computes any block directly, with no state to carry from one draw
// to the next. Dropout's draw number n is the stream: "reseeding" is free, where
// cuRAND's XORWOW must run a setup kernel over its whole state for every new seed.
//
// The ten rounds (two 32x32 -> 64-bit products each, the key moving by the Weyl
// constants between rounds) are in philox_rounds.cuh, shared with image_augment.cu.
//
// Uniforms in [0, 1): float32 takes the top 24 bits of one word, w >> 8 times 2^-24
// (4 numbers a block); float64 takes 53 bits of two words, ((a >> 5) 2^26 + (b >> 6))
// times 2^-53 (2 numbers a block). Both are exact: every value is a multiple of
// 2^-24 (2^-53), and 1 is never reached.
//
// Threads: a 1-D grid with a grid-stride loop, one thread per block of outputs;
// blocks are independent, so serial execution is exact.
//
// The loader compiles this file twice: `real` is float, or double with -DMINIDL_DOUBLE.
#ifdef MINIDL_DOUBLE
typedef double real;
#define PER_BLOCK 2
#else
typedef float real;
#define PER_BLOCK 4
#endif

#include "philox_rounds.cuh"

extern "C" __global__ void philox_uniform(real* out, long long size, long long key, long long stream)
{
    const long long blocks = (size + PER_BLOCK - 1) / PER_BLOCK;
    for (long long b = (long long)blockIdx.x * blockDim.x + threadIdx.x; b < blocks;
         b += (long long)blockDim.x * gridDim.x) {
        word c0 = (word)b, c1 = (word)((unsigned long long)b >> 32);
        word c2 = (word)stream, c3 = (word)((unsigned long long)stream >> 32);
        word k0 = (word)key, k1 = (word)((unsigned long long)key >> 32);
        philox4x32_10(c0, c1, c2, c3, k0, k1);
        const word words[4] = {c0, c1, c2, c3};
        for (int e = 0; e < PER_BLOCK; ++e) {
            const long long k = b * PER_BLOCK + e;
            if (k >= size) break;
#ifdef MINIDL_DOUBLE
            out[k] = ((double)(words[2 * e] >> 5) * 67108864.0 + (double)(words[2 * e + 1] >> 6))
                     * (1.0 / 9007199254740992.0);
#else
            out[k] = (float)(words[e] >> 8) * (1.0f / 16777216.0f);
#endif
        }
    }
}

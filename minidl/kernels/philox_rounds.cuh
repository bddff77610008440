// The ten rounds of Philox4x32-10, shared by philox.cu (dropout's uniforms) and
// image_augment.cu (the device augmentation's Gaussian noise).
//
// One round maps the counter (c0, c1, c2, c3) with two 32x32 -> 64-bit products:
//     (hi0, lo0) = M0 * c0,   (hi1, lo1) = M1 * c2
//     counter'   = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
// and between rounds the key moves by the Weyl constants (W0, W1).
//
// The loaders write this file in place of its include line (catalog.source_code),
// so NVRTC, nvcc and the g++ shim all compile the same text.
typedef unsigned int word;

__device__ __forceinline__ void philox4x32_10(word& c0, word& c1, word& c2, word& c3, word k0, word k1)
{
    for (int round = 0; round < 10; ++round) {
        if (round > 0) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        const unsigned long long p0 = (unsigned long long)0xD2511F53u * c0;
        const unsigned long long p1 = (unsigned long long)0xCD9E8D57u * c2;
        const word n0 = (word)(p1 >> 32) ^ c1 ^ k0, n2 = (word)(p0 >> 32) ^ c3 ^ k1;
        c0 = n0;
        c1 = (word)p1;
        c2 = n2;
        c3 = (word)p0;
    }
}

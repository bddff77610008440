// Fused elementwise kernels: two or three layers in one pass over memory.
//
// NumPy twins: the fused ops' references, each the composition of the layers'
// own references (minidl/ops/batch_norm_relu.py, max_pool2d_batch_norm_relu.py,
// conv2d_relu.py, conv2d_selu.py). Per-channel reductions (batch statistics, dbeta, dgamma, dbias)
// are CuPy's, done before these kernels run, as for batchnorm.cu.
//
// NaN and inf behave as on the host: the ReLU part keeps a NaN (max(NaN, 0) is NaN,
// its mask is false), and gradients MULTIPLY by masks and argmax tests rather than
// choose, so a NaN or inf upstream gradient reaches what the host's dy * mask reaches.
//
// Threads: a 1-D grid with a grid-stride loop; thread t0 = blockIdx.x*blockDim.x
// + threadIdx.x handles items t0, t0 + T, ... (T = blockDim.x*gridDim.x). No two
// threads write the same place: serial execution is exact.
//
// The loader compiles this file twice: `real` is float, or double with -DMINIDL_DOUBLE.
#ifdef MINIDL_DOUBLE
typedef double real;
#else
typedef float real;
#endif

#include "pool_windows.cuh"

// ReLU of z with its one-byte mask, as relu.cu: NaN stays NaN.
__device__ real relu_keep_nan(real z, bool* mask_out)
{
    const bool positive = z > 0;
    *mask_out = positive;
    return positive || z != z ? z : (real)0;  // z != z: NaN
}

// Batch norm then ReLU, forward. x, y, mask (N, C, L) flattened, element k in channel
// c = (k / L) % C; per channel: mean, scale = gamma * inv_std, shift = beta.
//     z = (x - mean) * scale + shift        y = max(z, 0), mask = z > 0
// One read of x and one write of y (and of the mask) where the two layers take two each.
extern "C" __global__ void batchnorm_relu_apply(const real* x, const real* mean, const real* scale,
                                                const real* shift, real* y, bool* mask,
                                                long long size, int channels, long long length)
{
    for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < size;
         k += (long long)blockDim.x * gridDim.x) {
        const int c = (int)(k / length) % channels;  // (n*C + c) fits in 32 bits: one 64-bit division
        y[k] = relu_keep_nan((x[k] - mean[c]) * scale[c] + shift[c], &mask[k]);
    }
}

// Convolution bias then ReLU, forward, IN PLACE on the convolution's output y (N, C, L):
//     y = max(y + bias[c], 0), mask = (y + bias[c]) > 0        (has_bias = 0: no addition)
// replacing the bias pass and the ReLU pass (and the ReLU's output array) by one.
extern "C" __global__ void bias_relu(real* y, const real* bias, bool* mask, long long size,
                                     int channels, long long length, int has_bias)
{
    for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < size;
         k += (long long)blockDim.x * gridDim.x) {
        const real z = has_bias ? y[k] + bias[(int)(k / length) % channels] : y[k];
        y[k] = relu_keep_nan(z, &mask[k]);
    }
}

// Convolution bias then SELU, forward, IN PLACE on y (N, C, L), with PyTorch's constants
// alpha and scale (minidl/ops/selu.py) and the mask z > 0 its backward needs:
//     z = y + bias[c]        y = scale * (z > 0 ? z : alpha * expm1(min(z, 0)))
// min as NumPy's minimum, which keeps a NaN (C's fmin would drop it), so NaN stays NaN.
extern "C" __global__ void bias_selu(real* y, const real* bias, bool* mask, long long size,
                                     int channels, long long length, int has_bias, real alpha, real scale)
{
    for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < size;
         k += (long long)blockDim.x * gridDim.x) {
        const real z = has_bias ? y[k] + bias[(int)(k / length) % channels] : y[k];
        const bool positive = z > 0;
        const real negative = z < 0 || z != z ? z : (real)0;  // min(z, 0), NaN kept
        mask[k] = positive;
        y[k] = (positive ? z : alpha * expm1(negative)) * scale;
    }
}

// SELU, backward, from its output y and mask: dz = dy * (mask ? scale : y + scale*alpha),
// a product, so a NaN or inf in dy stays as dy * slope does on the host.
extern "C" __global__ void selu_backward(const real* dy, const real* y, const bool* mask, real* dz,
                                         long long size, real scale, real scale_alpha)
{
    for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < size;
         k += (long long)blockDim.x * gridDim.x) {
        dz[k] = dy[k] * (mask[k] ? scale : y[k] + scale_alpha);
    }
}

// Max pooling, batch norm and ReLU, backward: one GATHER from the ReLU-masked gradient
// g (N, C, Ho, Wo) to dx (N, C, H, W). Batch norm's input gradient of window w,
//     dz[w] = gamma*inv_std * (g[w] - dbeta/M - (p[w] - mean)*inv_std * dgamma/M)
// (training; eval: dz = gamma*inv_std * g, p the pooled values, M = N*Ho*Wo) is
// computed where it is used, so the layers' intermediate dz is never written or read.
// Then, as maxpool.cu's backward (whose comment derives the window ranges and the
// order, the host's), dx[pixel] = sum over the windows holding it of
// dz[window] * (argmax[window] == the pixel's offset in it).
// One thread per INPUT pixel: deterministic sums (exact resume), no atomics.
extern "C" __global__ void maxpool_batchnorm_input_grad(const real* g, const real* pooled, const int* argmax,
                                                        const real* mean, const real* inv_std,
                                                        const real* gamma, const real* dbeta,
                                                        const real* dgamma, real* dx,
                                                        int planes, int channels, int height, int width,
                                                        int kernel_h, int kernel_w, int stride_h, int stride_w,
                                                        int pad_h, int pad_w, int out_h, int out_w,
                                                        real count, int training)
{
    const long long total = (long long)planes * height * width;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total;
         t += (long long)blockDim.x * gridDim.x) {
        const long long plane = t / ((long long)height * width);  // the one 64-bit division
        const int c = (int)(plane % channels);
        const int pixel = (int)(t - plane * height * width);
        const int hp = pixel / width + pad_h, wp = pixel % width + pad_w;
        int r_first, r_last, s_first, s_last;
        windows_reading(hp, wp, kernel_h, kernel_w, stride_h, stride_w, out_h, out_w, r_first, r_last, s_first, s_last);
        const long long window0 = plane * out_h * out_w;
        const real scale = gamma[c] * inv_std[c];
        const real slope = -(inv_std[c] * dgamma[c]) / count, offset_term = dbeta[c] / count;
        real sum = 0;
        for (int r = r_last; r >= r_first; --r) {
            for (int s = s_last; s >= s_first; --s) {
                const long long window = window0 + (long long)r * out_w + s;
                const int offset = (hp - r * stride_h) * kernel_w + (wp - s * stride_w);
                real dz = g[window];
                if (training) {  // batchnorm.cu's order of operations
                    real d = (pooled[window] - mean[c]) * slope;
                    d += g[window];
                    d -= offset_term;
                    dz = d;
                }
                sum += (dz * scale) * (real)(argmax[window] == offset);
            }
        }
        dx[t] = sum;
    }
}

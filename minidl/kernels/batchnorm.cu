// Batch normalisation, the elementwise halves: apply, and the input gradient.
//
// NumPy twin: minidl/ops/batch_norm.py, whose docstring derives the formulas.
// The per-channel reductions (mean, variance; dbeta = sum g, dgamma = sum g*xhat)
// are done by CuPy's own reductions before these kernels run.
//
// Shapes. x, y, g, dx are (N, C, L) flattened (L = H*W for images, 1 for
// features); element k belongs to channel c = (k / L) % C. Per-channel arrays
// (C,): mean, inv_std = 1/sqrt(var + eps), gamma, beta, dbeta, dgamma.
//
// Threads: a 1-D grid with a grid-stride loop; thread t0 = blockIdx.x*blockDim.x
// + threadIdx.x handles elements k = t0, t0 + T, ... (T = blockDim.x*gridDim.x).
// Elements are independent: serial execution is exact.
//
// The loader compiles this file twice: `real` is float, or double with -DMINIDL_DOUBLE.
#ifdef MINIDL_DOUBLE
typedef double real;
#else
typedef float real;
#endif

// y = (x - mean) * scale + shift with scale = gamma * inv_std and shift = beta,
// per channel (the caller passes scale = gamma * inv_std, as NumPy computes it).
extern "C" __global__ void batchnorm_apply(const real* x, const real* mean, const real* scale,
                                           const real* shift, real* y,
                                           long long size, int channels, long long length)
{
    for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < size;
         k += (long long)blockDim.x * gridDim.x) {
        const int c = (int)(k / length) % channels;  // (n*C + c) fits in 32 bits: one 64-bit division
        y[k] = (x[k] - mean[c]) * scale[c] + shift[c];
    }
}

// Training mode, with M = N*L values per channel and xhat = (x - mean) * inv_std:
//     dx = gamma*inv_std * (g - dbeta/M - xhat * dgamma/M)
// evaluated in the NumPy code's order; eval mode (training = 0): dx = gamma*inv_std * g.
extern "C" __global__ void batchnorm_input_grad(const real* g, const real* x, const real* mean,
                                                const real* inv_std, const real* gamma,
                                                const real* dbeta, const real* dgamma,
                                                real* dx, long long size, int channels,
                                                long long length, real count, int training)
{
    for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < size;
         k += (long long)blockDim.x * gridDim.x) {
        const int c = (int)(k / length) % channels;  // (n*C + c) fits in 32 bits: one 64-bit division
        const real scale = gamma[c] * inv_std[c];
        if (!training) {
            dx[k] = g[k] * scale;
            continue;
        }
        real d = (x[k] - mean[c]) * (-(inv_std[c] * dgamma[c]) / count);
        d += g[k];
        d -= dbeta[c] / count;
        dx[k] = d * scale;
    }
}

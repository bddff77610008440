// im2col and col2im: the column matrix of a convolution, on the GPU.
//
// NumPy twin: minidl/ops/conv2d.py (im2col + one product, col2im), and minidl/fast_cpu/windows.py.
//
// Shapes. x (N, C, H, W), contiguous, NOT padded: padding is read as zeros by
// bounds checks. The convolution has kernel (kh, kw), stride (sh, sw), padding
// (ph, pw) and output Ho x Wo. The column matrix is
//
//     cols[(c, i, j), (n, r, s)] = xpad[n, c, r*sh + i, s*sw + j]      (C*kh*kw, N*Ho*Wo)
//
// stored row-major, so the convolution is one matrix product W (O, C*kh*kw) @ cols.
//
// Threads. Both kernels use a 1-D grid and a grid-stride loop: thread
// t0 = blockIdx.x*blockDim.x + threadIdx.x handles elements t0, t0 + T, t0 + 2T, ...
// with T = blockDim.x*gridDim.x threads in all, so any grid covers any size and
// the last block may be partial (its surplus threads find t >= total and stop).
// Each element is written by exactly one thread and no thread reads what another
// writes: a serial loop over the threads computes exactly what the GPU does.
//
// The loader compiles this file twice: `real` is float, or double with -DMINIDL_DOUBLE.
#ifdef MINIDL_DOUBLE
typedef double real;
#else
typedef float real;
#endif

// im2col: one thread per (channel, column) pair, t = c*columns + column with
// column = (n*Ho + r)*Wo + s (below 2^31: the caller chunks), so
//     c = t / columns,  s = column % Wo,  r = (column / Wo) % Ho,  n = column / (Ho*Wo)
// and the thread writes the kh*kw entries of that column in rows (c, i, j): the
// input pixel (h, w) = (r*sh + i - ph, s*sw + j - pw), or 0 in the padding.
// The divisions happen once per thread, not once per entry (a GPU divides by a
// run-time value in ~20 instructions, 64-bit in software): the inner loops only
// add. Consecutive threads take consecutive columns, so each of their kh*kw
// writes is coalesced and their reads walk along an image row.
extern "C" __global__ void im2col(const real* x, real* cols,
                                  int n_samples, int channels, int height, int width,
                                  int kernel_h, int kernel_w, int stride_h, int stride_w,
                                  int pad_h, int pad_w, int out_h, int out_w)
{
    const long long columns = (long long)n_samples * out_h * out_w;  // < 2^31: the caller chunks
    const long long total = (long long)channels * columns;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total;
         t += (long long)blockDim.x * gridDim.x) {
        const int c = (int)(t / columns);
        const int column = (int)(t - c * columns);
        const int s = column % out_w;
        const int r = (column / out_w) % out_h;
        const int n = column / (out_w * out_h);
        const int top = r * stride_h - pad_h;   // the window's first input row and column
        const int left = s * stride_w - pad_w;
        const real* image = x + ((long long)n * channels + c) * height * width;
        real* entry = cols + (long long)c * kernel_h * kernel_w * columns + column;  // row (c, 0, 0)
        for (int i = 0; i < kernel_h; ++i) {
            const int h = top + i;
            const bool row_inside = 0 <= h && h < height;
            for (int j = 0; j < kernel_w; ++j, entry += columns) {  // next row of cols: (c, i, j + 1)
                const int w = left + j;
                *entry = row_inside && 0 <= w && w < width ? image[h * width + w] : (real)0;
            }
        }
    }
}

// col2im: the adjoint of im2col, as a GATHER. One thread per INPUT pixel
// t = ((n*C + c)*H + h)*W + w, i.e. (one 64-bit division, then 32-bit ones)
//     (n*C + c) = t / (H*W),  h = (t % (H*W)) / W,  w = t % W.
// The pixel was copied into column (n, r, s) of row (c, i, j) whenever
//     h + ph = r*sh + i   and   w + pw = s*sw + j
// for a valid output pixel 0 <= r < Ho, 0 <= s < Wo. So the offsets i that read
// it are i0 = (h + ph) % sh, i0 + sh, i0 + 2 sh, ... < kh, with window rows
// r = (h + ph - i) / sh falling by one at each step: the loop steps i and r
// together without dividing, skips r >= Ho and stops at r < 0 (likewise j, s).
// Every pixel sums only its own entries: no two threads write the same place,
// so no atomics are needed and the result does not depend on thread order (the
// sum runs in the fixed order i, j, as the NumPy col2im adds).
extern "C" __global__ void col2im(const real* cols, real* dx,
                                  int n_samples, int channels, int height, int width,
                                  int kernel_h, int kernel_w, int stride_h, int stride_w,
                                  int pad_h, int pad_w, int out_h, int out_w)
{
    const long long columns = (long long)n_samples * out_h * out_w;
    const long long plane = (long long)height * width;
    const long long total = (long long)n_samples * channels * plane;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total;
         t += (long long)blockDim.x * gridDim.x) {
        const int image = (int)(t / plane);            // n*C + c
        const int pixel = (int)(t - image * plane);    // h*W + w
        const int n = image / channels, c = image - n * channels;
        const int h_padded = pixel / width + pad_h, w_padded = pixel % width + pad_w;
        const int i0 = h_padded % stride_h, j0 = w_padded % stride_w;
        const real* sample = cols + (long long)n * out_h * out_w;  // column (n, 0, 0) of row 0
        real sum = 0;
        for (int i = i0, r = (h_padded - i0) / stride_h; i < kernel_h && r >= 0; i += stride_h, --r) {
            if (r >= out_h) continue;
            const real* row = sample + (long long)(c * kernel_h + i) * kernel_w * columns + (long long)r * out_w;
            for (int j = j0, s = (w_padded - j0) / stride_w; j < kernel_w && s >= 0; j += stride_w, --s) {
                if (s < out_w) sum += row[j * columns + s];
            }
        }
        dx[t] = sum;
    }
}

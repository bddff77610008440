// im2col and col2im: the column matrix of a convolution, on the GPU.
//
// NumPy twin: minidl/layers/windows.py (im2col, col2im) and conv.py's plain path.
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

// im2col: one thread per ENTRY of cols. Flat index t = row * columns + column,
// row = (c*kh + i)*kw + j and column = (n*Ho + r)*Wo + s (both below 2^31: the
// caller keeps a chunk's columns under that), so
//     s = column % Wo,  r = (column / Wo) % Ho,  n = column / (Ho*Wo)
//     j = row % kw,     i = (row / kw) % kh,     c = row / (kh*kw)
// and the entry copies input pixel (h, w) = (r*sh + i - ph, s*sw + j - pw), or 0
// when that pixel lies in the padding. Consecutive threads take consecutive
// columns, so their writes are coalesced and their reads walk along an image row.
extern "C" __global__ void im2col(const real* x, real* cols,
                                  int n_samples, int channels, int height, int width,
                                  int kernel_h, int kernel_w, int stride_h, int stride_w,
                                  int pad_h, int pad_w, int out_h, int out_w)
{
    const long long columns = (long long)n_samples * out_h * out_w;  // < 2^31: the caller chunks
    const long long total = (long long)channels * kernel_h * kernel_w * columns;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total;
         t += (long long)blockDim.x * gridDim.x) {
        // One 64-bit division; the rest in 32 bits (GPUs divide 64-bit integers in software).
        const int row = (int)(t / columns);
        const int column = (int)(t - row * columns);
        const int s = column % out_w;
        const int r = (column / out_w) % out_h;
        const int n = column / (out_w * out_h);
        const int j = row % kernel_w;
        const int i = (row / kernel_w) % kernel_h;
        const int c = row / (kernel_w * kernel_h);
        const int h = r * stride_h + i - pad_h;
        const int w = s * stride_w + j - pad_w;
        const bool inside = 0 <= h && h < height && 0 <= w && w < width;
        cols[t] = inside ? x[(((long long)n * channels + c) * height + h) * width + w] : (real)0;
    }
}

// col2im: the adjoint of im2col, as a GATHER. One thread per INPUT pixel
// t = ((n*C + c)*H + h)*W + w, i.e.
//     w = t % W,  h = (t / W) % H,  c = (t / (H*W)) % C,  n = t / (C*H*W).
// The pixel was copied into column (n, r, s) of row (c, i, j) whenever
//     h + ph = r*sh + i   and   w + pw = s*sw + j
// for a valid output pixel 0 <= r < Ho, 0 <= s < Wo. So the thread walks the
// kernel offsets i (then j), keeps those where (h + ph - i) is a non-negative
// multiple of sh with r = (h + ph - i) / sh < Ho (likewise for j), and adds the
// entries up. Every pixel sums only its own entries: no two threads write the
// same place, so no atomics are needed and the result does not depend on
// thread order (the sum runs in the fixed order i, j, as the NumPy col2im adds).
extern "C" __global__ void col2im(const real* cols, real* dx,
                                  int n_samples, int channels, int height, int width,
                                  int kernel_h, int kernel_w, int stride_h, int stride_w,
                                  int pad_h, int pad_w, int out_h, int out_w)
{
    const long long columns = (long long)n_samples * out_h * out_w;
    const long long total = (long long)n_samples * channels * height * width;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total;
         t += (long long)blockDim.x * gridDim.x) {
        const int w = (int)(t % width);
        const int h = (int)((t / width) % height);
        const int c = (int)((t / ((long long)width * height)) % channels);
        const int n = (int)(t / ((long long)width * height * channels));
        real sum = 0;
        for (int i = 0; i < kernel_h; ++i) {
            const int rows_down = h + pad_h - i;  // = r*sh if window row r reads this pixel at offset i
            if (rows_down < 0 || rows_down % stride_h != 0 || rows_down / stride_h >= out_h) continue;
            const int r = rows_down / stride_h;
            for (int j = 0; j < kernel_w; ++j) {
                const int cols_right = w + pad_w - j;
                if (cols_right < 0 || cols_right % stride_w != 0 || cols_right / stride_w >= out_w) continue;
                const int s = cols_right / stride_w;
                const long long row = ((long long)c * kernel_h + i) * kernel_w + j;
                sum += cols[row * columns + ((long long)n * out_h + r) * out_w + s];
            }
        }
        dx[t] = sum;
    }
}

// Max pooling on the GPU: forward with the argmax, backward through it.
//
// NumPy twin: minidl/ops/max_pool2d.py (the reference of MaxPool2d).
//
// Shapes. x (N, C, H, W) contiguous and not padded; y and argmax (N, C, Ho, Wo).
// Window (r, s) covers input rows r*sh - ph ... r*sh - ph + kh - 1 (columns
// likewise); pixels in the padding never win (padding is at most half the
// kernel, so every window holds at least one real pixel).
//
// Threads: a 1-D grid with a grid-stride loop; thread t0 = blockIdx.x*blockDim.x
// + threadIdx.x handles outputs t0, t0 + T, ... (T = blockDim.x*gridDim.x), so the
// last block may be partial. One thread per OUTPUT pixel in both kernels.
//
// The loader compiles this file twice: `real` is float, or double with -DMINIDL_DOUBLE.
#ifdef MINIDL_DOUBLE
typedef double real;
#else
typedef float real;
#endif

// Forward: output t = ((n*C + c)*Ho + r)*Wo + s, i.e.
//     plane = t / (Ho*Wo) = n*C + c,  r = (t % (Ho*Wo)) / Wo,  s = t % Wo
// (one 64-bit division, then 32-bit ones: GPUs divide 64-bit integers in software).
// The thread scans its window in order (i, then j) and keeps the first maximum
// (a later value must be strictly larger to replace it), as NumPy's argmax does;
// argmax[t] = i*kw + j of the winner. Each thread reads its own window and
// writes its own output: serial execution is exact.
extern "C" __global__ void maxpool_forward(const real* x, real* y, int* argmax,
                                           int planes, int height, int width,
                                           int kernel_h, int kernel_w, int stride_h, int stride_w,
                                           int pad_h, int pad_w, int out_h, int out_w)
{
    const long long total = (long long)planes * out_h * out_w;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total;
         t += (long long)blockDim.x * gridDim.x) {
        const long long plane = t / ((long long)out_h * out_w);  // the one 64-bit division
        const int pixel = (int)(t - plane * out_h * out_w);       // r*Wo + s
        const int r = pixel / out_w, s = pixel % out_w;
        const real* image = x + plane * height * width;
        real best = 0;
        int best_offset = -1;
        for (int i = 0; i < kernel_h; ++i) {
            const int h = r * stride_h + i - pad_h;
            if (h < 0 || h >= height) continue;
            for (int j = 0; j < kernel_w; ++j) {
                const int w = s * stride_w + j - pad_w;
                if (w < 0 || w >= width) continue;
                const real value = image[h * width + w];
                if (best_offset < 0 || value > best) {
                    best = value;
                    best_offset = i * kernel_w + j;
                }
            }
        }
        y[t] = best;
        argmax[t] = best_offset;
    }
}

// Backward: a SCATTER through the argmax. Output t (same index arithmetic as the
// forward) sends dy[t] to the winner of its window, input pixel
//     (h, w) = (r*sh + o / kw - ph, s*sw + o % kw - pw),   o = argmax[t],
// of dx (N, C, H, W), which the caller zeroes first. When windows overlap
// (stride < kernel) two outputs can share a winner, so the add is an atomicAdd;
// when they do not, every pixel gets at most one add and the result is exact
// and deterministic. (Overlapping windows make float sums depend on the order
// of the atomic adds on the GPU: equal to NumPy up to rounding, not bitwise.)
extern "C" __global__ void maxpool_backward(const real* dy, const int* argmax, real* dx,
                                            int planes, int height, int width,
                                            int kernel_w, int stride_h, int stride_w,
                                            int pad_h, int pad_w, int out_h, int out_w)
{
    const long long total = (long long)planes * out_h * out_w;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total;
         t += (long long)blockDim.x * gridDim.x) {
        const long long plane = t / ((long long)out_h * out_w);
        const int pixel = (int)(t - plane * out_h * out_w);
        const int r = pixel / out_w, s = pixel % out_w;
        const int offset = argmax[t];
        const int h = r * stride_h + offset / kernel_w - pad_h;
        const int w = s * stride_w + offset % kernel_w - pad_w;
        atomicAdd(dx + (plane * height + h) * width + w, dy[t]);
    }
}

// Max pooling on the GPU: forward with the argmax, backward through it.
//
// NumPy twin: minidl/ops/max_pool2d.py (the reference of MaxPool2d).
//
// Shapes. x (N, C, H, W) contiguous and not padded; y and argmax (N, C, Ho, Wo).
// Window (r, s) covers input rows r*sh - ph ... r*sh - ph + kh - 1 (columns
// likewise); a pixel in the padding holds `padding` (-inf, as in the host's
// padded view), so it never wins against a real pixel (padding is at most half
// the kernel, so every window holds at least one).
//
// Both kernels compute what the host's general path computes, bit for bit, NaN
// and inf included (NumPy twin: the `halving=False` loop):
//   forward   best = x[offset 0]; for each later offset o in window order,
//             if x_o > best the winner becomes o; best = max(best, x_o), where a
//             NaN on either side gives NaN (NumPy's maximum). So a NaN in a window
//             makes its output NaN, as on the host and in PyTorch, and the winner
//             is the first maximum among the values before the first NaN.
//   backward  dx[pixel] = sum, over the windows holding the pixel, in the host's
//             order, of dy[window] * (winner == the pixel's offset in it): the
//             product, not a choice, so a NaN or inf in dy reaches every pixel of
//             its window (inf * 0 = NaN), as dy * mask does on the host.
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

#include "pool_windows.cuh"

// Forward: output t = ((n*C + c)*Ho + r)*Wo + s, i.e.
//     plane = t / (Ho*Wo) = n*C + c,  r = (t % (Ho*Wo)) / Wo,  s = t % Wo
// (one 64-bit division, then 32-bit ones: GPUs divide 64-bit integers in software).
// The thread scans its window in order (i, then j); a later value must be
// strictly larger to win, so ties go to the first maximum, as NumPy's argmax
// does; argmax[t] = i*kw + j of the winner. Each thread reads its own window and
// writes its own output: serial execution is exact.
extern "C" __global__ void maxpool_forward(const real* x, real* y, int* argmax,
                                           int planes, int height, int width,
                                           int kernel_h, int kernel_w, int stride_h, int stride_w,
                                           int pad_h, int pad_w, int out_h, int out_w, real padding)
{
    const long long total = (long long)planes * out_h * out_w;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total;
         t += (long long)blockDim.x * gridDim.x) {
        const long long plane = t / ((long long)out_h * out_w);  // the one 64-bit division
        const int pixel = (int)(t - plane * out_h * out_w);       // r*Wo + s
        const int r = pixel / out_w, s = pixel % out_w;
        const real* image = x + plane * height * width;
        real best = padding;
        int best_offset = 0;
        for (int i = 0; i < kernel_h; ++i) {
            const int h = r * stride_h + i - pad_h;
            const bool row_inside = 0 <= h && h < height;
            for (int j = 0; j < kernel_w; ++j) {
                const int w = s * stride_w + j - pad_w;
                const real value = row_inside && 0 <= w && w < width ? image[h * width + w] : padding;
                if (i == 0 && j == 0) {
                    best = value;
                    continue;
                }
                if (value > best) best_offset = i * kernel_w + j;
                if (value > best || value != value) best = value;  // value != value: NaN wins and stays
            }
        }
        y[t] = best;
        argmax[t] = best_offset;
    }
}

// Backward: a GATHER, one thread per INPUT pixel, so no two threads write the same
// place and the sums are deterministic (the same bits on every run, which exact
// resume needs; an atomicAdd scatter adds in whatever order the threads arrive).
// Input t = (plane*H + h)*W + w. In padded coordinates (hp, wp) = (h + ph, w + pw)
// the windows holding the pixel are rows r with r*sh <= hp <= r*sh + kh - 1, i.e.
//     ceil((hp - kh + 1) / sh) <= r <= floor(hp / sh),  within 0 <= r < Ho
// (columns likewise), where the pixel sits at offset o = (hp - r*sh)*kw + (wp - s*sw).
// The host adds offset by offset, o ascending, which is r descending, then s
// descending: the loops run in that order so the float sum rounds the same way.
// A pixel in no window (the floor mode's last rows and columns) gets 0.
extern "C" __global__ void maxpool_backward(const real* dy, const int* argmax, real* dx,
                                            int planes, int height, int width,
                                            int kernel_h, int kernel_w, int stride_h, int stride_w,
                                            int pad_h, int pad_w, int out_h, int out_w)
{
    const long long total = (long long)planes * height * width;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total;
         t += (long long)blockDim.x * gridDim.x) {
        const long long plane = t / ((long long)height * width);  // the one 64-bit division
        const int pixel = (int)(t - plane * height * width);
        const int hp = pixel / width + pad_h, wp = pixel % width + pad_w;
        int r_first, r_last, s_first, s_last;
        windows_reading(hp, wp, kernel_h, kernel_w, stride_h, stride_w, out_h, out_w, r_first, r_last, s_first, s_last);
        const long long window0 = plane * out_h * out_w;
        real sum = 0;
        for (int r = r_last; r >= r_first; --r) {
            for (int s = s_last; s >= s_first; --s) {
                const long long window = window0 + (long long)r * out_w + s;
                const int offset = (hp - r * stride_h) * kernel_w + (wp - s * stride_w);
                sum += dy[window] * (real)(argmax[window] == offset);
            }
        }
        dx[t] = sum;
    }
}

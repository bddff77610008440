// The pooling windows that read one input pixel: the backward gathers of
// maxpool.cu and fused.cu sum over exactly these windows, one thread per pixel.
//
// Window (r, s) reads padded rows r*stride_h .. r*stride_h + kernel_h - 1, so padded
// row hp is read by the windows with hp - kernel_h < r*stride_h <= hp, clipped to
// the output:  ceil((hp - kernel_h + 1) / stride_h) <= r <= min(hp / stride_h, out_h - 1)
// (columns alike). An empty range (first > last) means no window reads the pixel.
__device__ __forceinline__ void windows_reading(int hp, int wp, int kernel_h, int kernel_w,
                                                int stride_h, int stride_w, int out_h, int out_w,
                                                int& r_first, int& r_last, int& s_first, int& s_last)
{
    r_first = hp >= kernel_h ? (hp - kernel_h + stride_h) / stride_h : 0;
    s_first = wp >= kernel_w ? (wp - kernel_w + stride_w) / stride_w : 0;
    r_last = hp / stride_h < out_h ? hp / stride_h : out_h - 1;
    s_last = wp / stride_w < out_w ? wp / stride_w : out_w - 1;
}

// ReLU with its mask: the forward keeps a one-byte mask x > 0 for the backward.
//
// NumPy twin: minidl/ops/relu.py (the reference of ReLU):
//     y = max(x, 0), mask = x > 0        dx = dy * mask
//
// Threads: a 1-D grid with a grid-stride loop; thread t0 = blockIdx.x*blockDim.x
// + threadIdx.x handles elements k = t0, t0 + T, ... (T = blockDim.x*gridDim.x),
// any shape flattened. Elements are independent: serial execution is exact.
// The mask is `bool` (one byte, the layout of a NumPy/CuPy bool array).
//
// The loader compiles this file twice: `real` is float, or double with -DMINIDL_DOUBLE.
#ifdef MINIDL_DOUBLE
typedef double real;
#else
typedef float real;
#endif

extern "C" __global__ void relu_forward(const real* x, real* y, bool* mask, long long size)
{
    for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < size;
         k += (long long)blockDim.x * gridDim.x) {
        const bool positive = x[k] > 0;
        mask[k] = positive;
        y[k] = positive ? x[k] : (real)0;
    }
}

extern "C" __global__ void relu_backward(const real* dy, const bool* mask, real* dx, long long size)
{
    for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < size;
         k += (long long)blockDim.x * gridDim.x) {
        dx[k] = mask[k] ? dy[k] : (real)0;
    }
}

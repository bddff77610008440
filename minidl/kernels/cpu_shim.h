// cpu_shim.h: just enough of CUDA for a kernel source to compile with g++ and
// run serially on the CPU, so the kernel LOGIC can be tested without a GPU.
//
// A kernel sees threadIdx, blockIdx, blockDim and gridDim; here they are
// ordinary variables that minidl_shim::launch sets before calling the kernel
// once per (block, thread), blocks in order and threads in order within each.
// This serial run computes what the GPU computes as long as no thread depends
// on another thread of the same launch running at the same time: the kernels
// in this folder use no __shared__ memory, no __syncthreads and no warp
// intrinsics, and only atomicAdd to combine results, which is a plain add here.
#pragma once
#include <cmath>

using std::exp;
using std::expm1;
using std::fabs;
using std::fmin;
using std::log1p;
using std::sqrt;

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

// The CUDA built-ins, one copy per host thread that launches kernels.
static thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict

template <typename T>
T atomicAdd(T* address, T value)
{
    const T old = *address;
    *address = old + value;
    return old;
}

namespace minidl_shim {

// <<<grid, block>>>: every thread of every block, one after the other.
template <typename Kernel, typename... Args>
void launch(dim3 grid, dim3 block, Kernel kernel, Args... args)
{
    gridDim = grid;
    blockDim = block;
    for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx)
                for (unsigned tz = 0; tz < block.z; ++tz)
                    for (unsigned ty = 0; ty < block.y; ++ty)
                        for (unsigned tx = 0; tx < block.x; ++tx) {
                            blockIdx = dim3(bx, by, bz);
                            threadIdx = dim3(tx, ty, tz);
                            kernel(args...);
                        }
}

}  // namespace minidl_shim

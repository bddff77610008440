// The Adam / AdamW parameter update as ONE fused elementwise kernel (per tensor, or per group).
//
// NumPy twin: minidl/ops/adam.py (the reference update), which takes about ten passes
// over memory with scratch arrays; here each element is read and written once.
//
// Threads: a 1-D grid with a grid-stride loop; thread t0 = blockIdx.x*blockDim.x
// + threadIdx.x updates elements k = t0, t0 + T, ... (T = blockDim.x*gridDim.x)
// of the flat parameter, its gradient and its two moment buffers. No element is
// touched by two threads, so serial execution is exact.
//
// Per element, with the host-computed step constants (so float32 rounds exactly
// as the NumPy code, which applies them in the same order):
//     g = grad                      (Adam, weight_decay > 0:  g = g + wd * p)
//     p = p * decay                 (AdamW: decay = 1 - lr*wd; Adam: decay = 1)
//     m = beta1*m + one_minus_beta1*g
//     v = beta2*v + one_minus_beta2*g*g
//     p = p - (m * step_size) / (sqrt(v) / sqrt_bias_correction2 + eps)
// with step_size = lr / (1 - beta1^t) and sqrt_bias_correction2 = sqrt(1 - beta2^t).
//
// The loader compiles this file twice: `real` is float, or double with -DMINIDL_DOUBLE.
#ifdef MINIDL_DOUBLE
typedef double real;
#else
typedef float real;
#endif

// One element's update (both kernels below): reads and writes param, exp_avg, exp_avg_sq at k.
__device__ void adam_element(real* param, const real* grad, real* exp_avg, real* exp_avg_sq, long long k,
                             real beta1, real one_minus_beta1, real beta2, real one_minus_beta2, real eps,
                             real coupled_weight_decay, real decay, real step_size, real sqrt_bias_correction2)
{
    real p = param[k];
    real g = grad[k];
    if (coupled_weight_decay != 0) g = g + coupled_weight_decay * p;
    p = p * decay;
    const real m = beta1 * exp_avg[k] + g * one_minus_beta1;
    const real v = beta2 * exp_avg_sq[k] + (g * g) * one_minus_beta2;
    exp_avg[k] = m;
    exp_avg_sq[k] = v;
    param[k] = p - (m * step_size) / (sqrt(v) / sqrt_bias_correction2 + eps);
}

extern "C" __global__ void adam_update(real* param, const real* grad, real* exp_avg, real* exp_avg_sq,
                                       long long size, real beta1, real one_minus_beta1,
                                       real beta2, real one_minus_beta2, real eps,
                                       real coupled_weight_decay, real decay,
                                       real step_size, real sqrt_bias_correction2)
{
    for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < size;
         k += (long long)blockDim.x * gridDim.x) {
        adam_element(param, grad, exp_avg, exp_avg_sq, k, beta1, one_minus_beta1, beta2, one_minus_beta2,
                     eps, coupled_weight_decay, decay, step_size, sqrt_bias_correction2);
    }
}

// Every parameter of an optimizer group in ONE launch (the group shares its step t, so the
// scalars): instead of a launch per parameter tensor, one grid covers all their elements
// as if they were laid end to end. Tensor i holds global elements starts[i] <= k < starts[i+1]
// (starts: tensors + 1 prefix sums, starts[tensors] = total); params[i], grads[i], exp_avgs[i],
// exp_avg_sqs[i] are the ADDRESSES of its four arrays (device pointers on a GPU, host ones in
// the CPU shim), as 64-bit integers. A thread finds its tensor by binary search, then updates
// element k - starts[i] of it exactly as adam_update does.
extern "C" __global__ void adam_update_many(const long long* params, const long long* grads,
                                            const long long* exp_avgs, const long long* exp_avg_sqs,
                                            const long long* starts, int tensors, long long total,
                                            real beta1, real one_minus_beta1,
                                            real beta2, real one_minus_beta2, real eps,
                                            real coupled_weight_decay, real decay,
                                            real step_size, real sqrt_bias_correction2)
{
    for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < total;
         k += (long long)blockDim.x * gridDim.x) {
        int lo = 0, hi = tensors - 1;  // the last i with starts[i] <= k
        while (lo < hi) {
            const int mid = (lo + hi + 1) / 2;
            if (starts[mid] <= k) lo = mid; else hi = mid - 1;
        }
        adam_element((real*)params[lo], (const real*)grads[lo], (real*)exp_avgs[lo], (real*)exp_avg_sqs[lo],
                     k - starts[lo], beta1, one_minus_beta1, beta2, one_minus_beta2,
                     eps, coupled_weight_decay, decay, step_size, sqrt_bias_correction2);
    }
}

// Binary cross-entropy on logits: loss AND gradient in one elementwise pass.
//
// NumPy twin: minidl/ops/bce_with_logits.py (the reference), whose docstring derives
//     l     = -w [ p y log σ(x) + (1 - y) log σ(-x) ]
//     dl/dx =  w [ (1 - y) σ(x) - p y σ(-x) ]
// with w the element weight and p the positive weight of the element's class.
// Both use log σ(x) = min(x, 0) - log1p(exp(-|x|)), which never overflows, and
// σ(x) = exp(log σ(x)).
//
// Shapes. logits, targets, loss, grad: any shape, flattened to `size` elements
// whose LAST axis has `classes` entries, so element k belongs to class k % classes.
// weight_mode: 0 no weight (w = 1), 1 one weight per class (w = weight[k % classes]),
// 2 one weight per element (w = weight[k]). pos_weight: has_pos_weight = 0 (p = 1)
// or one per class. `scale` is 1/size for reduction="mean", 1 for "sum"; it
// multiplies the gradient only (the caller reduces the loss with CuPy's sum).
//
// Threads: a 1-D grid with a grid-stride loop; thread t0 = blockIdx.x*blockDim.x
// + threadIdx.x handles elements k = t0, t0 + T, ... (T = blockDim.x*gridDim.x).
// Each element is independent: serial execution is exact.
//
// The loader compiles this file twice: `real` is float, or double with -DMINIDL_DOUBLE.
#ifdef MINIDL_DOUBLE
typedef double real;
#else
typedef float real;
#endif

__device__ real log_sigmoid(real x)
{
    return fmin(x, (real)0) - log1p(exp(-fabs(x)));
}

extern "C" __global__ void bce_with_logits(const real* logits, const real* targets,
                                           const real* weight, int weight_mode,
                                           const real* pos_weight, int has_pos_weight,
                                           long long size, int classes, real scale,
                                           real* loss, real* grad)
{
    for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < size;
         k += (long long)blockDim.x * gridDim.x) {
        const int c = (int)(k % classes);
        const real x = logits[k];
        const real y = targets[k];
        const real w = weight_mode == 0 ? (real)1 : weight_mode == 1 ? weight[c] : weight[k];
        const real p = has_pos_weight ? pos_weight[c] * y : y;  // p*y of the formula above
        const real log_p = log_sigmoid(x);    // log σ(x)
        const real log_q = log_sigmoid(-x);   // log σ(-x) = log(1 - σ(x))
        loss[k] = -w * (p * log_p + (1 - y) * log_q);
        grad[k] = (w * scale) * ((1 - y) * exp(log_p) - p * exp(log_q));
    }
}

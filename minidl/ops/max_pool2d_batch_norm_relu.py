"""Max pooling, batch normalisation, ReLU, as ONE op: ParallelLeNet's
``MaxPool2d(2), BatchNorm2d(c), ReLU()`` (pooling first, so the other two work
on a quarter of the values). The math is the three references composed:

    p = max_pool2d(x)  (N, C, Ho, Wo)    z = batch_norm(p; gamma, beta)    y = max(z, 0)

and backward the chain rule through them in reverse: dL/dz = dL/dy * (z > 0),
batch norm's backward gives dL/dp, dL/dgamma, dL/dbeta, and max pooling's
sends dL/dp to each window's winner. Shapes and the geometry (kernel_size,
stride, padding; floor mode) as in ``minidl/ops/max_pool2d.py``; gamma, beta
and the running statistics (C,) as in ``minidl/ops/batch_norm.py``.

Why an op of its own: on a GPU the backward of batch norm and of pooling
become one gather (``minidl/kernels/fused.cu``,
``maxpool_batchnorm_input_grad``): each input pixel computes batch norm's
input gradient of the windows it won, where it is used, so dL/dp (the size of
the pooled map) is never written nor read; the forward fuses batch norm with
ReLU (``batchnorm_relu_apply``). Forward returns the batch statistics third,
as batch norm does.
"""
import sys

from minidl.ops import batch_norm_relu, geometry, max_pool2d, registry


def forward(x, weight, bias, running_mean, running_var, *, kernel_size, stride, padding,
            training=True, eps=1e-5, **_):
    p, pool_saved = max_pool2d.forward(x, kernel_size=kernel_size, stride=stride, padding=padding)
    y, bnr_saved, stats = batch_norm_relu.forward(p, weight, bias, running_mean, running_var,
                                                  training=training, eps=eps)
    return y, (pool_saved, bnr_saved), stats


def backward(dy, saved, *, kernel_size, stride, padding, **hyper):
    pool_saved, bnr_saved = saved
    dp, dgamma, dbeta = batch_norm_relu.backward(dy, bnr_saved, **hyper)
    (dx,) = max_pool2d.backward(dp, pool_saved, kernel_size=kernel_size, stride=stride, padding=padding)
    return dx, dgamma, dbeta


def _case(label, x, kernel, stride, padding, **flags):
    c = x[1]
    return geometry.window_case(label, x, kernel, stride, padding, params=[(c,), (c,)],
                                buffers=[(c,), (c,)], **flags)


CASES = [
    _case("2x2 stride 2, training", (2, 3, 8, 6), 2, 2, 0),
    _case("2x2 stride 2, odd sizes, batch 1", (1, 2, 7, 9), 2, 2, 0),
    _case("3x3 stride 2 pad 1, overlapping", (2, 2, 7, 9), 3, 2, 1),
    _case("eval: running statistics", (2, 3, 6, 6), 2, 2, 0, training=False),
    _case("2x2 stride 2, ties", (2, 3, 6, 8), 2, 2, 0, ties=True),
]
registry.define("max_pool2d_batch_norm_relu", sys.modules[__name__], cases=CASES)

"""Batch normalisation followed by ReLU, as ONE op: the pair the networks write as
``BatchNorm2d(c), ReLU()``. The math is the two references composed, nothing new:

    z = batch_norm(x; gamma, beta)          y = max(z, 0)              (shapes: minidl/ops/batch_norm.py)
    dL/dz = dL/dy * (z > 0)                 dL/dx, dL/dgamma, dL/dbeta = batch_norm's backward of dL/dz

Why an op of its own: on a GPU the fused kernel (``minidl/kernels/fused.cu``,
``batchnorm_relu_apply``) reads x and writes y once, where the two layers read
and write the whole activation twice and launch twice. ``minidl.layers.fused``
runs the layer pair through this op where a fused implementation is registered
for the input's device; elsewhere the two layers run as they are.

Like batch norm, forward returns a third value: the batch statistics
(mean, var, M) in training, else None, which the BatchNorm layer uses to move
its running statistics.
"""
import sys

from minidl.ops import batch_norm, registry, relu


def forward(x, weight, bias, running_mean, running_var, *, training=True, eps=1e-5, **_):
    z, bn_saved, stats = batch_norm.forward(x, weight, bias, running_mean, running_var, training=training, eps=eps)
    y, positive = relu.forward(z)
    return y, (bn_saved, positive), stats


def backward(dy, saved, **hyper):
    bn_saved, positive = saved
    (dz,) = relu.backward(dy, positive)
    return batch_norm.backward(dz, bn_saved, **hyper)


C = registry.Case
CASES = [
    C("2-d images, training", (3, 4, 5, 6), [(4,), (4,)], buffers=[(4,), (4,)]),
    C("batch 1 images, training", (1, 3, 5, 7), [(3,), (3,)], buffers=[(3,), (3,)]),
    C("eval: running statistics", (2, 3, 4, 4), [(3,), (3,)], buffers=[(3,), (3,)], training=False),
    C("1-d features, training, eps 1e-3", (6, 5), [(5,), (5,)], buffers=[(5,), (5,)], eps=1e-3),
]
registry.define("batch_norm_relu", sys.modules[__name__], cases=CASES)

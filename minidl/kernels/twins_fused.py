"""The fused kernels (``fused.cu``, and ``adam_update_many``: a group's Adam in one launch) next
to their NumPy twins: the fused ops' references, which compose the layers' references, and
Adam's reference applied tensor by tensor. Part of ``twins.CHECKS``, so
``python -m minidl.kernels --run-on-cpu`` and tests/kernels run them like every other.

A check runs the reference op on NumPy arrays (float64 or float32 as the case), then
the op's "gpu" implementation on the ``Target``: on the CPU target the functions of
``device_fused`` on NumPy arrays, so the kernels run through the serial shim; on the
GPU target the implementation the ops table picks for CuPy arrays. It compares the
outputs, the batch statistics and every gradient, as twins.py does.
"""
import numpy

from minidl import ops
from minidl.kernels import device_fused, device_training


def _check_op(op, host_impl, target, x, params, buffers, hyper, rng):
    reference = ops.reference(op)
    y_ref, saved, *stats_ref = reference.forward(x, *params, *[b.copy() for b in buffers], **hyper)
    dy = rng.standard_normal(y_ref.shape).astype(x.dtype)
    grads_ref = reference.backward(dy, saved, **hyper)
    put = target.put
    args = [put(x)] + [None if p is None else put(p) for p in params] + [put(b.copy()) for b in buffers]
    impl = ops.implementation(op, args[0], **hyper) if target.on_device else host_impl
    y, saved, *stats = impl.forward(*args, **hyper)
    grads = impl.backward(put(dy), saved, **hyper)
    pairs = [(y_ref, target.get(y))]
    for want, got in zip(stats_ref, stats):
        if want is not None:
            pairs += [(want[0], target.get(got[0])), (want[1], target.get(got[1]))]
    pairs += [(w, target.get(g)) for w, g in zip(grads_ref, grads, strict=True) if w is not None]
    from minidl.kernels.twins import _errors  # here: twins imports this module
    return _errors(pairs)


def _norm_params(rng, c, dtype):
    gamma, beta = rng.uniform(0.5, 1.5, c), rng.standard_normal(c)
    return [gamma.astype(dtype), beta.astype(dtype)], [rng.standard_normal(c).astype(dtype),
                                                       rng.uniform(0.5, 2.0, c).astype(dtype)]


def check_batchnorm_relu(target, case, dtype, rng):
    shape, training = case
    params, buffers = _norm_params(rng, shape[1], dtype)
    x = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
    return _check_op("batch_norm_relu", device_fused.BATCH_NORM_RELU, target, x, params, buffers,
                     dict(training=training, eps=1e-5), rng)


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def check_maxpool_bn_relu(target, case, dtype, rng):
    name, n, c, h, w, k, s, p, training = case
    params, buffers = _norm_params(rng, c, dtype)
    x = rng.standard_normal((n, c, h, w))
    x = (numpy.round(x * 2) if "ties" in name else x).astype(dtype)  # ties: the FIRST maximum must win
    hyper = dict(kernel_size=_pair(k), stride=_pair(s), padding=_pair(p), training=training, eps=1e-5)
    return _check_op("max_pool2d_batch_norm_relu", device_fused.MAX_POOL2D_BATCH_NORM_RELU, target, x,
                     params, buffers, hyper, rng)


def check_conv_relu(target, case, dtype, rng, op="conv2d_relu", impl=device_fused.CONV2D_RELU):
    name, n, c, h, w, k, s, p, bias = case
    k = _pair(k)
    params = [(rng.standard_normal((4, c) + k) / (c * k[0] * k[1]) ** 0.5).astype(dtype),
              rng.standard_normal(4).astype(dtype) if bias else None]
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    hyper = dict(stride=_pair(s), padding=_pair(p), input_grad="first" not in name)
    return _check_op(op, impl, target, x, params, [], hyper, rng)


def check_conv_selu(target, case, dtype, rng):
    return check_conv_relu(target, case, dtype, rng, "conv2d_selu", device_fused.CONV2D_SELU)


def check_adam_many(target, case, dtype, rng):
    """Three steps of Adam/AdamW over a group of odd-sized tensors in one launch per step, against
    the reference updating them one by one (parameters and both moments)."""
    sizes, weight_decay, decoupled = case
    hyper = dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=weight_decay, decoupled=decoupled)
    host = [rng.standard_normal(n).astype(dtype) for n in sizes]
    twin = [target.put(p.copy()) for p in host]
    host_states, twin_states = [{} for _ in sizes], [{} for _ in sizes]
    reference = ops.reference("adam")
    for _ in range(3):
        grads = [rng.standard_normal(n).astype(dtype) for n in sizes]
        for p, g, s in zip(host, grads, host_states):
            reference.update(p, g, s, **hyper)
        twin_grads = [target.put(g) for g in grads]
        if target.on_device:
            ops.implementation("adam", twin[0], **hyper).update_many(twin, twin_grads, twin_states, **hyper)
        else:
            device_training.FusedAdam.update_many(twin, twin_grads, twin_states, **hyper)
    pairs = [(p, target.get(q)) for p, q in zip(host, twin)]
    pairs += [(a[k], target.get(b[k])) for a, b in zip(host_states, twin_states) for k in ("exp_avg", "exp_avg_sq")]
    from minidl.kernels.twins import _errors  # here: twins imports this module
    return _errors(pairs)


MAXPOOL_BN_RELU_CASES = [
    ("2x2-s2-odd", 2, 3, 7, 9, 2, 2, 0, True),
    ("3x3-s2-p1-overlap", 2, 2, 9, 7, 3, 2, 1, True),
    ("batch1-3x3-s1-eval", 1, 2, 6, 5, 3, 1, 1, False),
    ("ties-2x2", 2, 2, 6, 8, 2, 2, 0, True),
]
CONV_RELU_CASES = [
    ("3x3-s1-p1-bias", 2, 3, 7, 9, 3, 1, 1, True),
    ("stride2-pad1-nobias", 2, 2, 9, 7, 3, 2, 1, False),
    ("batch1-first-layer", 1, 2, 7, 8, 5, 1, 2, True),
    ("nonsquare", 2, 2, 7, 9, (3, 2), (2, 1), (1, 0), True),
]
CHECKS = {
    "bn+relu": (("batchnorm_relu_apply",), check_batchnorm_relu,
                [("2d-train", ((3, 5, 7, 9), True)), ("2d-eval", ((2, 3, 5, 5), False)),
                 ("1d-train", ((4, 6), True)), ("batch1-train", ((1, 3, 5, 7), True))]),
    "pool+bn+relu": (("maxpool_batchnorm_input_grad", "batchnorm_relu_apply"), check_maxpool_bn_relu,
                     [(c[0], c) for c in MAXPOOL_BN_RELU_CASES]),
    "conv+relu": (("bias_relu",), check_conv_relu, [(c[0], c) for c in CONV_RELU_CASES]),
    "conv+selu": (("bias_selu", "selu_backward"), check_conv_selu, [(c[0], c) for c in CONV_RELU_CASES]),
    "adam-many": (("adam_update_many",), check_adam_many,
                  [("adam-5-tensors", ((1001, 1, 37, 256, 3), 1e-2, False)),
                   ("adamw-2-tensors", ((7, 513), 1e-2, True)), ("adam-1-tensor", ((65,), 0.0, False))]),
}

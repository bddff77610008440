"""Each kernel next to its NumPy twin, on random inputs: the checks shared by
``python -m minidl.kernels --run-on-cpu``, the CPU tests and the GPU suite.

A check builds a NumPy layer (or optimizer, or loss), runs it, runs the same
computation through the kernels on a ``Target``, and returns the largest error
of any output relative to that output's largest magnitude. On the CPU target
the kernels run through the serial shim on NumPy arrays (the device code paths
are called directly); on the GPU target, the layer is moved to CuPy and called
as usual, so its dispatch is checked as well.
"""
import copy
import functools
import itertools

import numpy

import minidl as md
from minidl.kernels import device_layers, device_training, twins_fused
from minidl.kernels.image_twins import IMAGE_CHECKS

# (name, N, C, H, W, kernel, stride, padding) for im2col/col2im (conv) and pooling.
WINDOW_CASES = [
    ("odd-3x3-s1-p1", 2, 3, 7, 9, 3, 1, 1),
    ("stride2-pad1", 2, 2, 9, 7, 3, 2, 1),
    ("batch1-5x5-p2", 1, 2, 7, 8, 5, 1, 2),
    ("nonsquare", 2, 2, 7, 9, (3, 2), (2, 1), (1, 0)),
    ("stride>kernel", 2, 2, 8, 7, 2, 3, 0),
]
POOL_CASES = [
    ("2x2-s2-odd", 2, 3, 7, 9, 2, 2, 0),
    ("3x3-s2-p1-overlap", 2, 2, 9, 7, 3, 2, 1),
    ("batch1-3x3-s1", 1, 2, 6, 5, 3, 1, 1),
    ("ties-3x3-s2", 2, 2, 7, 7, 3, 2, 0),  # small integers: the FIRST maximum must win
]


class Target:
    """Where the kernels run: ``host()`` (CPU shim, NumPy arrays) or ``gpu()`` (CuPy)."""

    def __init__(self, name, put, get, on_device):
        self.name, self.put, self.get, self.on_device = name, put, get, on_device

    @classmethod
    def host(cls):
        return cls("cpu-shim", lambda a: a, lambda a: a, False)

    @classmethod
    def gpu(cls):
        return cls("gpu", lambda a: md.to_device(a, "gpu"), md.to_numpy, True)

    def layer(self, layer):
        """A copy of ``layer`` with its arrays where the kernels run."""
        twin = copy.deepcopy(layer)
        return twin.to("gpu") if self.on_device else twin


def _built_on_host(check):
    """Run ``check`` with "cpu" as the current device: its NumPy twins are built on the
    host whatever device the caller uses; the Target moves the kernels' copies."""
    @functools.wraps(check)
    def run(*args):
        previous = md.backend.device()
        md.backend.use("cpu")
        try:
            return check(*args)
        finally:
            md.backend.use(previous)
    return run


def _error(reference, result):
    reference, result = numpy.asarray(reference, dtype=numpy.float64), numpy.asarray(result, dtype=numpy.float64)
    if reference.shape != result.shape:
        return float("inf")
    return float(numpy.max(numpy.abs(reference - result), initial=0.0) / max(numpy.max(numpy.abs(reference)), 1e-30))


def _errors(pairs):
    return max(_error(a, b) for a, b in pairs)


def _forward_backward(target, layer, x, dy, impl):
    """Run ``layer`` on NumPy and through the kernels (``impl``, a "gpu" implementation of
    ``device_layers``); return the outputs' largest relative error."""
    reference = copy.deepcopy(layer)
    y_ref = reference(x)
    dx_ref = reference.backward(dy)
    twin = target.layer(layer)
    if target.on_device:  # the ops table picks the kernels
        y = twin(target.put(x))
    else:  # the kernels' implementation on host arrays, through the CPU shim
        y = twin.run_forward(x, impl=impl)[0]
    dx = twin.backward(target.put(dy))
    pairs = [(y_ref, target.get(y)), (dx_ref, target.get(dx))]
    pairs += [(p.grad, target.get(q.grad)) for p, q in zip(reference.parameters(), twin.parameters())]
    return _errors(pairs)


@_built_on_host
def check_conv(target, case, dtype, rng):
    _, n, c, h, w, k, s, p = case
    layer = md.Conv2d(c, 4, k, stride=s, padding=p).astype(dtype)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    out = md.Conv2d(c, 4, k, stride=s, padding=p)(x.astype(numpy.float32)).shape
    dy = rng.standard_normal(out).astype(dtype)
    return _forward_backward(target, layer, x, dy, device_layers.CONV2D)


@_built_on_host
def check_im2col(target, case, dtype, rng):
    """im2col against NumPy slicing, col2im against the adjoint built the same way."""
    _, n, c, h, w, k, s, p = case
    layer = md.Conv2d(c, 1, k, stride=s, padding=p)
    geometry = device_layers.geometry(layer.kernel_size, layer.stride, layer.padding, (n, c, h, w))
    kh, kw, sh, sw, ph, pw, ho, wo = geometry
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    xpad = numpy.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    offsets = list(itertools.product(range(kh), range(kw)))
    slices = [(slice(i, i + sh * (ho - 1) + 1, sh), slice(j, j + sw * (wo - 1) + 1, sw)) for i, j in offsets]
    cols_ref = numpy.stack([xpad[:, :, a, b] for a, b in slices], axis=0)  # (kh*kw, N, C, Ho, Wo)
    cols_ref = cols_ref.transpose(2, 0, 1, 3, 4).reshape(c * kh * kw, n * ho * wo)
    g = rng.standard_normal(cols_ref.shape).astype(dtype)
    dxpad = numpy.zeros_like(xpad)
    g6 = g.reshape(c, kh * kw, n, ho, wo)
    for o, (a, b) in enumerate(slices):
        dxpad[:, :, a, b] += g6[:, o].transpose(1, 0, 2, 3)
    dx_ref = dxpad[:, :, ph:ph + h, pw:pw + w]
    cols = device_layers.im2col(target.put(x), geometry)
    dx = device_layers.col2im(target.put(g), x.shape, geometry)
    return _errors([(cols_ref, target.get(cols)), (dx_ref, target.get(dx))])


@_built_on_host
def check_maxpool(target, case, dtype, rng):
    _, n, c, h, w, k, s, p = case
    layer = md.MaxPool2d(k, stride=s, padding=p)
    x = rng.standard_normal((n, c, h, w))  # continuous: no ties, unless the case asks for them
    x = (numpy.round(x) if "ties" in case[0] else x).astype(dtype)
    dy = rng.standard_normal(layer(x).shape).astype(dtype)
    return _forward_backward(target, layer, x, dy, device_layers.MAX_POOL2D)


@_built_on_host
def check_relu(target, shape, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)
    x[numpy.abs(x) < 1e-3] = 0.5  # away from the kink
    dy = rng.standard_normal(shape).astype(dtype)
    return _forward_backward(target, md.ReLU(), x, dy, device_layers.RELU)


@_built_on_host
def check_batchnorm(target, case, dtype, rng):
    shape, training = case
    layer = (md.BatchNorm2d if len(shape) == 4 else md.BatchNorm1d)(shape[1]).astype(dtype)
    layer.weight.data[...] = rng.uniform(0.5, 1.5, shape[1])
    layer.bias.data[...] = rng.standard_normal(shape[1])
    layer.running_mean[...] = rng.standard_normal(shape[1])
    layer.running_var[...] = rng.uniform(0.5, 2.0, shape[1])
    layer.train(training)
    x = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    return _forward_backward(target, layer, x, dy, device_layers.BATCH_NORM)


@_built_on_host
def check_adam(target, case, dtype, rng):
    """Three steps of Adam or AdamW with weight decay, on an odd-sized parameter."""
    optimizer_class, weight_decay = case
    size = 1001
    host = md.Parameter(rng.standard_normal(size).astype(dtype))
    twin = md.Parameter(target.put(host.data.copy()))
    grads = [rng.standard_normal(size).astype(dtype) for _ in range(3)]
    options = dict(lr=1e-2, weight_decay=weight_decay)
    reference, kernel = optimizer_class([host], **options), optimizer_class([twin], **options)
    state = kernel.state.setdefault(twin, {})
    for g in grads:
        host.grad = g.copy()
        reference.step()
        twin.grad = target.put(g.copy())
        if target.on_device:
            kernel.step()
        else:  # the implementation Adam's step runs on a device array
            device_training.FusedAdam.update(twin.data, twin.grad, state, **kernel.hyper(kernel.param_groups[0]))
    return _errors([(host.data, target.get(twin.data)),
                    (reference.state[host]["exp_avg_sq"], target.get(state["exp_avg_sq"]))])


@_built_on_host
def check_bce(target, case, dtype, rng):
    weight_kind, pos_weight = case
    n, classes = 5, 7
    logits = (rng.standard_normal((n, classes)) * 4).astype(dtype)
    targets = (rng.random((n, classes)) < 0.3).astype(dtype)
    weight = {None: None, "class": rng.uniform(0.5, 2, classes),
              "element": rng.uniform(0.5, 2, (n, classes))}[weight_kind]
    pos = rng.uniform(0.5, 3, classes) if pos_weight else None
    reference = md.losses.BCEWithLogitsLoss(weight=weight, pos_weight=pos)
    kernel = md.losses.BCEWithLogitsLoss(weight=weight, pos_weight=pos)
    loss_ref, grad_ref = reference(logits, targets), reference.backward()
    if target.on_device:
        loss, grad = kernel(target.put(logits), target.put(targets)), kernel.backward()
    else:
        # the implementation the loss runs on device arrays, with the hyper-parameters it passes
        loss, grad = device_training.FusedBCEWithLogits.forward(logits, targets, **kernel.hyper(logits))
    return _errors([(loss_ref, loss), (grad_ref, target.get(grad))])


_PHILOX_M = (0xD2511F53, 0xCD9E8D57)
_PHILOX_W = (0x9E3779B9, 0xBB67AE85)


def philox4x32_10(counter, key):
    """Philox4x32-10 of counters (4, n) under key (2,), all uint32: the words (4, n).
    Mirrors ``philox.cu`` one round per loop pass, on whole arrays."""
    c = [numpy.asarray(w, dtype=numpy.uint64) for w in counter]
    k0, k1 = (numpy.uint64(int(k)) for k in key)
    mask = numpy.uint64(0xFFFFFFFF)
    for round_ in range(10):
        if round_ > 0:
            k0, k1 = (k0 + numpy.uint64(_PHILOX_W[0])) & mask, (k1 + numpy.uint64(_PHILOX_W[1])) & mask
        p0, p1 = numpy.uint64(_PHILOX_M[0]) * c[0], numpy.uint64(_PHILOX_M[1]) * c[2]
        c = [(p1 >> numpy.uint64(32)) ^ c[1] ^ k0, p1 & mask, (p0 >> numpy.uint64(32)) ^ c[3] ^ k1, p0 & mask]
    return numpy.stack(c).astype(numpy.uint32)


def philox_uniform(size, key, stream, dtype):
    """The ``size`` uniforms [0, 1) that kernel ``philox_uniform`` writes for (key, stream)."""
    per = 4 if numpy.dtype(dtype) == numpy.float32 else 2
    blocks = numpy.arange(-(-size // per), dtype=numpy.uint64)
    key, stream = int(key) % 2 ** 64, int(stream) % 2 ** 64
    counter = (blocks & 0xFFFFFFFF, blocks >> numpy.uint64(32),
               numpy.full_like(blocks, stream & 0xFFFFFFFF), numpy.full_like(blocks, stream >> 32))
    words = philox4x32_10(counter, (key & 0xFFFFFFFF, key >> 32)).T.astype(numpy.float64)  # (blocks, 4)
    if per == 4:
        values = numpy.floor(words / 256) / 2.0 ** 24
    else:
        values = (numpy.floor(words[:, 0::2] / 32) * 2.0 ** 26 + numpy.floor(words[:, 1::2] / 64)) / 2.0 ** 53
    return values.reshape(-1)[:size].astype(dtype)


@_built_on_host
def check_philox(target, case, dtype, rng):
    size, key, stream = case
    out = target.put(numpy.empty(size, dtype=dtype))
    from minidl.kernels.launch import launch
    launch("philox_uniform", -(-size // (4 if dtype == numpy.float32 else 2)), out, size, key, stream)
    result = target.get(out)
    return 0.0 if numpy.array_equal(result, philox_uniform(size, key, stream, dtype)) else float("inf")


# kernel family -> (kernels it covers, check, [(case name, case), ...])
CHECKS = {
    "im2col": (("im2col", "col2im"), check_im2col, [(c[0], c) for c in WINDOW_CASES]),
    "conv2d": (("im2col", "col2im"), check_conv, [(c[0], c) for c in WINDOW_CASES]),
    "maxpool": (("maxpool_forward", "maxpool_backward"), check_maxpool, [(c[0], c) for c in POOL_CASES]),
    "relu": (("relu_forward", "relu_backward"), check_relu, [("odd-4d", (3, 5, 7, 9)), ("2d", (1, 13))]),
    "batchnorm": (("batchnorm_apply", "batchnorm_input_grad"), check_batchnorm,
                  [("2d-train", ((3, 5, 7, 9), True)), ("2d-eval", ((2, 3, 5, 5), False)),
                   ("1d-train", ((4, 6), True)), ("batch1-train", ((1, 3, 5, 7), True))]),
    "adam": (("adam_update",), check_adam,
             [("adam-wd", (md.optim.Adam, 1e-2)), ("adamw", (md.optim.AdamW, 1e-2)), ("adam", (md.optim.Adam, 0.0))]),
    "bce": (("bce_with_logits",), check_bce,
            [("plain", (None, False)), ("class-weight+pos", ("class", True)), ("element-weight", ("element", False))]),
    "philox": (("philox_uniform",), check_philox,
               [("odd-size", (1001, 12345, 7)), ("64-bit-key-and-stream", (37, 2 ** 62 + 11, 2 ** 40 + 3))]),
    **IMAGE_CHECKS,  # augmentation and normalisation of uint8 images (image_twins.py)
}

CHECKS.update({family: (kernels, _built_on_host(check), cases)  # the fused kernels' twins
               for family, (kernels, check, cases) in twins_fused.CHECKS.items()})

# Largest relative error accepted: float64 to round-off, float32 to its precision.
TOLERANCE = {"float64": 1e-10, "float32": 1e-4}


def run_all(target, dtypes=("float64", "float32"), seed=0):
    """Yield (family, kernels, case name, dtype, error, ok) for every check."""
    for family, (kernels, check, cases) in CHECKS.items():
        for (case_name, case), dtype in itertools.product(cases, dtypes):
            error = check(target, case, numpy.dtype(dtype).type, numpy.random.default_rng(seed))
            yield family, kernels, case_name, dtype, error, error <= TOLERANCE[dtype]

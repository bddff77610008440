"""The "gpu" implementations of conv2d, max_pool2d, relu and batch_norm: the kernels of this folder.

Registered in the ops table (``minidl.ops.registry``) for device arrays (CuPy
on a GPU, or the test suite's fake device); host arrays never come here. Each
has the functions and signatures of its op's reference in ``minidl/ops``:
forward(x, *params, **hyper) -> (y, saved) and backward(dy, saved, **hyper)
-> gradients; everything comes in as arguments, nothing touches a layer.

Reductions (sums over a batch, per-channel statistics) and the matrix products
of the convolution are CuPy's own (cuBLAS); the kernels do the rest.
"""
import types

from minidl import backend
from minidl.kernels.launch import launch
from minidl.ops import batch_norm, registry

# Bytes of im2col columns per chunk of samples: a GapNet 512 px layer's full
# batch of columns can run to gigabytes, and a chunk this size keeps cuBLAS busy.
CHUNK_BYTES = 512 << 20


def _output_size(size, kernel, stride, padding):
    return (size + 2 * padding - kernel) // stride + 1


def geometry(kernel_size, stride, padding, x_shape):
    """The 8 geometry arguments (kh, kw, sh, sw, ph, pw, Ho, Wo) im2col, col2im and pooling take."""
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    h, w = x_shape[2:]
    if h + 2 * ph < kh or w + 2 * pw < kw:
        raise ValueError(f"input {h}x{w} with padding {tuple(padding)} is smaller than kernel_size {tuple(kernel_size)}")
    return kh, kw, sh, sw, ph, pw, _output_size(h, kh, sh, ph), _output_size(w, kw, sw, pw)


def _sample_chunks(n, bytes_per_sample, columns_per_sample):
    """(start, stop) runs of samples whose columns fit CHUNK_BYTES, and whose column count stays
    below 2^31 (im2col's 32-bit index arithmetic; implied by CHUNK_BYTES unless a sample is huge)."""
    per = max(1, CHUNK_BYTES // max(1, bytes_per_sample))
    if columns_per_sample >= 2 ** 31:
        raise ValueError(f"one sample has {columns_per_sample} output pixels: more than the kernels index")
    per = min(per, (2 ** 31 - 1) // columns_per_sample)
    return [(start, min(start + per, n)) for start in range(0, n, per)]


def im2col(x, geometry):
    """Columns (C*kh*kw, N*Ho*Wo) of a contiguous x (N, C, H, W) (kernel ``im2col``)."""
    xp = backend.get_array_module(x)
    n, c, h, w = x.shape
    kh, kw, _, _, _, _, ho, wo = geometry
    cols = xp.empty((c * kh * kw, n * ho * wo), dtype=x.dtype)
    launch("im2col", c * n * ho * wo, x, cols, n, c, h, w, *geometry)  # a thread per (channel, column)
    return cols


def col2im(cols, x_shape, geometry):
    """The adjoint of ``im2col``: dx (N, C, H, W) gathered from column gradients (kernel ``col2im``)."""
    xp = backend.get_array_module(cols)
    dx = xp.empty(x_shape, dtype=cols.dtype)
    launch("col2im", dx.size, cols, dx, *x_shape, *geometry)
    return dx


def conv2d_forward(x, weight, bias=None, *, stride=(1, 1), padding=(0, 0), **_):
    """y = W @ im2col(x) + b, chunk by chunk of samples (the math: minidl/ops/conv2d.py)."""
    xp = backend.get_array_module(x)
    x = xp.ascontiguousarray(x)
    n, c = x.shape[:2]
    o, _, kh, kw = weight.shape
    geom = geometry((kh, kw), stride, padding, x.shape)
    ho, wo = geom[6:]
    wmat = weight.astype(x.dtype, copy=False).reshape(o, c * kh * kw)
    y = xp.empty((n, o, ho, wo), dtype=x.dtype)
    for start, stop in _sample_chunks(n, c * kh * kw * ho * wo * x.itemsize, ho * wo):
        product = xp.matmul(wmat, im2col(x[start:stop], geom))      # (O, n*Ho*Wo)
        y[start:stop] = product.reshape(o, stop - start, ho, wo).transpose(1, 0, 2, 3)
    if bias is not None:
        y += bias.astype(x.dtype, copy=False)[:, None, None]
    return y, (x, weight, bias is not None, geom)  # backward rebuilds the columns, as the CPU path does


def conv2d_backward(dy, saved, *, input_grad=True, **_):
    """dW = G @ cols^T, db = sum G, dx = col2im(W^T @ G), chunk by chunk of samples
    (dx: None, and neither its product nor col2im, when ``input_grad`` is False)."""
    x, weight, has_bias, geom = saved
    xp = backend.get_array_module(dy)
    n, c = x.shape[:2]
    o, _, kh, kw = weight.shape
    ho, wo = geom[6:]
    wmat = weight.astype(dy.dtype, copy=False).reshape(o, c * kh * kw)
    dweight = xp.zeros(wmat.shape, dtype=dy.dtype)
    dx = xp.empty(x.shape, dtype=dy.dtype) if input_grad else None
    for start, stop in _sample_chunks(n, c * kh * kw * ho * wo * dy.itemsize, ho * wo):
        cols = im2col(x[start:stop], geom)
        g = xp.ascontiguousarray(dy[start:stop].transpose(1, 0, 2, 3)).reshape(o, -1)  # (O, n*Ho*Wo)
        # dW^T = cols @ G^T: the same product as G @ cols^T, which cuBLAS ran 1.3x
        # slower for ParallelLeNet's 16->32 layer on an H200 (1.73 against 2.26 ms).
        dweight += xp.matmul(cols, g.T).T
        if dx is not None:
            del cols  # the column gradient takes its memory
            dx[start:stop] = col2im(xp.matmul(wmat.T, g), (stop - start,) + x.shape[1:], geom)
    dbias = channel_sums(dy.reshape(n, o, -1)) if has_bias else None
    return dx, dweight.reshape(weight.shape), dbias


def maxpool2d_forward(x, *, kernel_size, stride, padding, **_):
    """Values and argmax of every window (kernel ``maxpool_forward``)."""
    xp = backend.get_array_module(x)
    x = xp.ascontiguousarray(x)
    n, c, h, w = x.shape
    geom = geometry(kernel_size, stride, padding, x.shape)
    y = xp.empty((n, c) + geom[6:], dtype=x.dtype)
    argmax = xp.empty(y.shape, dtype=xp.int32)
    launch("maxpool_forward", y.size, x, y, argmax, n * c, h, w, *geom, -float("inf"))
    return y, (argmax, x.shape, geom)


def maxpool2d_backward(dy, saved, **_):
    """dx: each input pixel gathers the gradients of the windows it won (kernel ``maxpool_backward``)."""
    argmax, x_shape, (kh, kw, sh, sw, ph, pw, ho, wo) = saved
    xp = backend.get_array_module(dy)
    dy = xp.ascontiguousarray(dy)
    dx = xp.empty(x_shape, dtype=dy.dtype)  # the kernel writes every pixel
    launch("maxpool_backward", dx.size, dy, argmax, dx, x_shape[0] * x_shape[1], *x_shape[2:],
           kh, kw, sh, sw, ph, pw, ho, wo)
    return (dx,)


def relu_forward(x, **_):
    xp = backend.get_array_module(x)
    x = xp.ascontiguousarray(x)
    y, mask = xp.empty_like(x), xp.empty(x.shape, dtype=xp.bool_)
    launch("relu_forward", x.size, x, y, mask, x.size)
    return y, mask


def relu_backward(dy, mask, **_):
    xp = backend.get_array_module(dy)
    dy = xp.ascontiguousarray(dy)
    dx = xp.empty_like(dy)
    launch("relu_backward", dy.size, dy, mask, dx, dy.size)
    return (dx,)


def channel_sums(x3):
    """Per-channel sums (C,) of x3 (N, C, L): first along the contiguous L, then over N.

    One reduction over axes (0, 2) gives CuPy only C outputs to spread over the
    GPU (a block each, 32 blocks on a 132-multiprocessor H200); reducing L first
    gives N*C outputs, each a coalesced run of memory.
    """
    return x3.sum(axis=2).sum(axis=0)


def _centred_product_sums(x3, mean, other=None):
    """Per channel, the sum over N and L of (x - mean) * other, ``other`` (N, C, L) defaulting
    to (x - mean) itself: through one temporary the size of x3."""
    xp = backend.get_array_module(x3)
    xc = x3 - mean[:, None]
    xp.multiply(xc, xc if other is None else other, out=xc)
    return channel_sums(xc)


def batchnorm_statistics(x, weight, bias, running_mean, running_var, training, eps):
    """What batch norm's elementwise kernels need, by CuPy's reductions: x3 (N, C, L) contiguous,
    mean, inv_std, gamma, beta (C,), M = N*L, and (mean, var, M) in training else None."""
    xp = backend.get_array_module(x)
    n, c = x.shape[:2]
    x3 = xp.ascontiguousarray(x).reshape(n, c, -1)
    m = n * x3.shape[2]
    stats = None
    if training:
        batch_norm.check_batch(m)
        mean = channel_sums(x3) / m
        var = _centred_product_sums(x3, mean) / m  # two passes: no cancellation as in E[x^2] - E[x]^2
        stats = (mean, var, m)
    else:
        mean = xp.ascontiguousarray(running_mean, dtype=x.dtype)
        var = running_var.astype(x.dtype, copy=False)
    inv_std = 1 / xp.sqrt(var + eps)
    gamma = xp.ascontiguousarray(weight, dtype=x.dtype)
    beta = xp.ascontiguousarray(bias, dtype=x.dtype)
    return x3, mean, inv_std, gamma, beta, m, stats


def batchnorm_forward(x, weight, bias, running_mean, running_var, *, training=True, eps=1e-5, **_):
    """Statistics by CuPy's reductions, then y = (x - mean)*gamma*inv_std + beta (kernel ``batchnorm_apply``);
    returns (y, saved, (mean, var, M) in training else None) like the reference."""
    xp = backend.get_array_module(x)
    x3, mean, inv_std, gamma, beta, m, stats = batchnorm_statistics(x, weight, bias, running_mean, running_var,
                                                                    training, eps)
    y = xp.empty_like(x3)
    launch("batchnorm_apply", y.size, x3, mean, gamma * inv_std, beta, y, y.size, x3.shape[1], x3.shape[2])
    return y.reshape(x.shape), (x3, mean, inv_std, gamma, m, training), stats


def batchnorm_parameter_grads(g, x3, mean, inv_std):
    """(dbeta, dgamma) (C,) of the upstream gradient g (N, C, L), by CuPy's reductions."""
    return channel_sums(g), _centred_product_sums(x3, mean, g) * inv_std


def batchnorm_backward(dy, saved, **_):
    """dbeta, dgamma by CuPy's reductions, then dx (kernel ``batchnorm_input_grad``)."""
    xp = backend.get_array_module(dy)
    x3, mean, inv_std, gamma, m, training = saved
    g = xp.ascontiguousarray(dy).reshape(x3.shape)
    dbeta, dgamma = batchnorm_parameter_grads(g, x3, mean, inv_std)
    dx = xp.empty_like(g)
    launch("batchnorm_input_grad", g.size, g, x3, mean, inv_std, gamma, dbeta, dgamma, dx,
           g.size, x3.shape[1], x3.shape[2], m, int(training))
    return dx.reshape(dy.shape), dgamma, dbeta


CONV2D = types.SimpleNamespace(forward=conv2d_forward, backward=conv2d_backward)
MAX_POOL2D = types.SimpleNamespace(forward=maxpool2d_forward, backward=maxpool2d_backward)
RELU = types.SimpleNamespace(forward=relu_forward, backward=relu_backward)
BATCH_NORM = types.SimpleNamespace(forward=batchnorm_forward, backward=batchnorm_backward)
registry.register("conv2d", device="gpu", name="cuda_im2col", impl=CONV2D)
registry.register("max_pool2d", device="gpu", name="cuda_maxpool", impl=MAX_POOL2D)
registry.register("relu", device="gpu", name="cuda_relu", impl=RELU)
registry.register("batch_norm", device="gpu", name="cuda_batchnorm", impl=BATCH_NORM)

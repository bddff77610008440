"""The layers' GPU paths: forward and backward through the kernels of this folder.

A layer calls these when its input is a device array (CuPy on a GPU, or the
test suite's fake device); host arrays never come here and keep the NumPy code
in ``minidl/layers``. Each function takes the layer itself, stores its backward
state with ``layer.save_for_backward`` and reads it with ``layer.saved()``, like
the NumPy code, and returns arrays on the input's device.

Reductions (sums over a batch, per-channel statistics) and the matrix products
of the convolution are CuPy's own (cuBLAS); the kernels do the rest.
"""
from minidl import backend
from minidl.kernels.launch import launch

# Bytes of im2col columns per chunk of samples: a GapNet 512 px layer's full
# batch of columns can run to gigabytes, and a chunk this size keeps cuBLAS busy.
CHUNK_BYTES = 512 << 20


def _output_size(size, kernel, stride, padding):
    return (size + 2 * padding - kernel) // stride + 1


def _geometry(layer, x_shape):
    """The 8 geometry arguments (kh, kw, sh, sw, ph, pw, Ho, Wo) im2col, col2im and pooling take."""
    (kh, kw), (sh, sw), (ph, pw) = layer.kernel_size, layer.stride, layer.padding
    h, w = x_shape[2:]
    if h + 2 * ph < kh or w + 2 * pw < kw:
        raise ValueError(f"input {h}x{w} with padding {layer.padding} is smaller than kernel_size {layer.kernel_size}")
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


def conv2d_forward(layer, x):
    """y = W @ im2col(x) + b, chunk by chunk of samples (see minidl/layers/conv.py)."""
    xp = backend.get_array_module(x)
    x = xp.ascontiguousarray(x)
    n, c = x.shape[:2]
    geometry = _geometry(layer, x.shape)
    (kh, kw), (ho, wo), o = layer.kernel_size, geometry[6:], layer.out_channels
    weight = layer.weight.data.astype(x.dtype, copy=False).reshape(o, c * kh * kw)
    y = xp.empty((n, o, ho, wo), dtype=x.dtype)
    for start, stop in _sample_chunks(n, c * kh * kw * ho * wo * x.itemsize, ho * wo):
        product = xp.matmul(weight, im2col(x[start:stop], geometry))      # (O, n*Ho*Wo)
        y[start:stop] = product.reshape(o, stop - start, ho, wo).transpose(1, 0, 2, 3)
    if layer.bias is not None:
        y += layer.bias.data.astype(x.dtype, copy=False)[:, None, None]
    layer.save_for_backward(x)  # backward rebuilds the columns, as the NumPy path does
    return y


def conv2d_backward(layer, dy):
    """dW = G @ cols^T, db = sum G, dx = col2im(W^T @ G), chunk by chunk of samples
    (dx: None, and neither its product nor col2im, when ``layer.input_grad`` is False)."""
    (x,) = layer.saved()
    xp = backend.get_array_module(dy)
    n, c = x.shape[:2]
    geometry = _geometry(layer, x.shape)
    (kh, kw), (ho, wo), o = layer.kernel_size, geometry[6:], layer.out_channels
    weight = layer.weight.data.astype(dy.dtype, copy=False).reshape(o, c * kh * kw)
    dweight = xp.zeros(weight.shape, dtype=dy.dtype)
    dx = xp.empty(x.shape, dtype=dy.dtype) if layer.input_grad else None
    for start, stop in _sample_chunks(n, c * kh * kw * ho * wo * dy.itemsize, ho * wo):
        cols = im2col(x[start:stop], geometry)
        g = xp.ascontiguousarray(dy[start:stop].transpose(1, 0, 2, 3)).reshape(o, -1)  # (O, n*Ho*Wo)
        # dW^T = cols @ G^T: the same product as G @ cols^T, which cuBLAS ran 1.3x
        # slower for ParallelLeNet's 16->32 layer on an H200 (1.73 against 2.26 ms).
        dweight += xp.matmul(cols, g.T).T
        if dx is not None:
            del cols  # the column gradient takes its memory
            dx[start:stop] = col2im(xp.matmul(weight.T, g), (stop - start,) + x.shape[1:], geometry)
    layer.weight.grad += dweight.reshape(layer.weight.shape)
    if layer.bias is not None:
        layer.bias.grad += channel_sums(dy.reshape(n, o, -1))
    return dx


def maxpool2d_forward(layer, x):
    """Values and argmax of every window (kernel ``maxpool_forward``)."""
    xp = backend.get_array_module(x)
    x = xp.ascontiguousarray(x)
    n, c, h, w = x.shape
    geometry = _geometry(layer, x.shape)
    y = xp.empty((n, c) + geometry[6:], dtype=x.dtype)
    argmax = xp.empty(y.shape, dtype=xp.int32)
    launch("maxpool_forward", y.size, x, y, argmax, n * c, h, w, *geometry, -float("inf"))
    layer.save_for_backward(argmax, x.shape)
    return y


def maxpool2d_backward(layer, dy):
    """dx: each input pixel gathers the gradients of the windows it won (kernel ``maxpool_backward``)."""
    argmax, x_shape = layer.saved()
    xp = backend.get_array_module(dy)
    dy = xp.ascontiguousarray(dy)
    kh, kw, sh, sw, ph, pw, ho, wo = _geometry(layer, x_shape)
    dx = xp.empty(x_shape, dtype=dy.dtype)  # the kernel writes every pixel
    launch("maxpool_backward", dx.size, dy, argmax, dx, x_shape[0] * x_shape[1], *x_shape[2:],
           kh, kw, sh, sw, ph, pw, ho, wo)
    return dx


def relu_forward(layer, x):
    xp = backend.get_array_module(x)
    x = xp.ascontiguousarray(x)
    y, mask = xp.empty_like(x), xp.empty(x.shape, dtype=xp.bool_)
    launch("relu_forward", x.size, x, y, mask, x.size)
    layer.save_for_backward(mask)
    return y


def relu_backward(layer, dy):
    (mask,) = layer.saved()
    xp = backend.get_array_module(dy)
    dy = xp.ascontiguousarray(dy)
    dx = xp.empty_like(dy)
    launch("relu_backward", dy.size, dy, mask, dx, dy.size)
    return dx


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


def batchnorm_forward(layer, x):
    """Statistics by CuPy's reductions, then y = (x - mean)*gamma*inv_std + beta (kernel ``batchnorm_apply``)."""
    xp = backend.get_array_module(x)
    n, c = x.shape[:2]
    x3 = xp.ascontiguousarray(x).reshape(n, c, -1)
    m = n * x3.shape[2]
    if layer.training:
        layer.check_batch(m)
        mean = channel_sums(x3) / m
        var = _centred_product_sums(x3, mean) / m  # two passes: no cancellation as in E[x^2] - E[x]^2
        layer._update_running(mean, var, m)
    else:
        mean = xp.ascontiguousarray(layer.running_mean, dtype=x.dtype)
        var = layer.running_var.astype(x.dtype, copy=False)
    inv_std = 1 / xp.sqrt(var + layer.eps)
    gamma = xp.ascontiguousarray(layer.weight.data, dtype=x.dtype)
    beta = xp.ascontiguousarray(layer.bias.data, dtype=x.dtype)
    y = xp.empty_like(x3)
    launch("batchnorm_apply", y.size, x3, mean, gamma * inv_std, beta, y, y.size, c, x3.shape[2])
    layer.save_for_backward(x3, mean, inv_std, gamma, m, layer.training)
    return y.reshape(x.shape)


def batchnorm_backward(layer, dy):
    """dbeta, dgamma by CuPy's reductions, then dx (kernel ``batchnorm_input_grad``)."""
    xp = backend.get_array_module(dy)
    x3, mean, inv_std, gamma, m, training = layer.saved()
    g = xp.ascontiguousarray(dy).reshape(x3.shape)
    dbeta = channel_sums(g)
    dgamma = _centred_product_sums(x3, mean, g) * inv_std
    layer.bias.grad += dbeta
    layer.weight.grad += dgamma
    layer.free_saved()
    dx = xp.empty_like(g)
    launch("batchnorm_input_grad", g.size, g, x3, mean, inv_std, gamma, dbeta, dgamma, dx,
           g.size, x3.shape[1], x3.shape[2], m, int(training))
    return dx.reshape(dy.shape)

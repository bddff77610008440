"""The "gpu" implementations of the fused ops: two or three layers, fewer passes over memory.

Each has the functions and signatures of its op's reference, which composes the
layers' references (``minidl/ops/batch_norm_relu.py``,
``max_pool2d_batch_norm_relu.py``, ``conv2d_relu.py``, ``conv2d_selu.py``); the kernels are in
``fused.cu``. What each saves over the layers one by one, per step:

- ``batch_norm_relu``: forward, one elementwise pass (``batchnorm_relu_apply``) instead of
  two (batch norm's apply, then ReLU), so one launch and one activation-sized array fewer.
  Backward is the layers' own: ReLU's masked gradient g, then batch norm's reductions of g
  (which need g itself) and its input-gradient kernel.
- ``max_pool2d_batch_norm_relu``: forward, pooling then the fused pass above; backward,
  ReLU's masked gradient, batch norm's reductions, then ONE gather
  (``maxpool_batchnorm_input_grad``) instead of batch norm's input-gradient pass plus
  pooling's gather: the pooled-size gradient is never written or read.
- ``conv2d_relu``: forward, the convolution without its bias, then the bias and ReLU in one
  pass in place (``bias_relu``) instead of a bias pass, a ReLU pass and a new array.
  Backward: ReLU's masked gradient, then the convolution's backward (its bias gradient too).
- ``conv2d_selu``: the same with SELU (``bias_selu``); its backward one pass (``selu_backward``)
  where the reference takes several.

Everything comes in as arguments; nothing touches a layer.
"""
import types

from minidl import backend
from minidl.kernels import device_layers as layers
from minidl.kernels.launch import launch
from minidl.ops import registry, selu


def batchnorm_relu_forward(x, weight, bias, running_mean, running_var, *, training=True, eps=1e-5, **_):
    """Statistics by CuPy's reductions, then y = max((x - mean)*gamma*inv_std + beta, 0) and its mask
    (kernel ``batchnorm_relu_apply``); returns (y, saved, statistics) like the reference."""
    xp = backend.get_array_module(x)
    x3, mean, inv_std, gamma, beta, m, stats = layers.batchnorm_statistics(x, weight, bias, running_mean,
                                                                           running_var, training, eps)
    y, mask = xp.empty_like(x3), xp.empty(x3.shape, dtype=xp.bool_)
    launch("batchnorm_relu_apply", y.size, x3, mean, gamma * inv_std, beta, y, mask, y.size,
           x3.shape[1], x3.shape[2])
    return y.reshape(x.shape), ((x3, mean, inv_std, gamma, m, training), mask), stats


def _masked(dy, mask):
    """dL/dz = dy * mask (kernel ``relu_backward``), shaped like the mask."""
    (g,) = layers.relu_backward(dy.reshape(mask.shape), mask)
    return g


def batchnorm_relu_backward(dy, saved, **_):
    bn_saved, mask = saved
    dx, dgamma, dbeta = layers.batchnorm_backward(_masked(dy, mask), bn_saved)
    return dx.reshape(dy.shape), dgamma, dbeta


def maxpool_bn_relu_forward(x, weight, bias, running_mean, running_var, *, kernel_size, stride, padding,
                            training=True, eps=1e-5, **_):
    """Pooling (kernel ``maxpool_forward``), then batch norm and ReLU in one pass."""
    pooled, (argmax, x_shape, geom) = layers.maxpool2d_forward(x, kernel_size=kernel_size, stride=stride,
                                                               padding=padding)
    y, bnr_saved, stats = batchnorm_relu_forward(pooled, weight, bias, running_mean, running_var,
                                                 training=training, eps=eps)
    return y, (argmax, x_shape, geom, bnr_saved), stats


def maxpool_bn_relu_backward(dy, saved, **_):
    """Masked gradient, batch norm's reductions, then one gather to dx (``maxpool_batchnorm_input_grad``)."""
    argmax, x_shape, geom, ((p3, mean, inv_std, gamma, m, training), mask) = saved
    xp = backend.get_array_module(dy)
    g = _masked(xp.ascontiguousarray(dy), mask)
    dbeta, dgamma = layers.batchnorm_parameter_grads(g, p3, mean, inv_std)
    dx = xp.empty(x_shape, dtype=dy.dtype)  # the kernel writes every pixel
    n, c = x_shape[:2]
    launch("maxpool_batchnorm_input_grad", dx.size, g, p3, argmax, mean, inv_std, gamma, dbeta, dgamma, dx,
           n * c, c, *x_shape[2:], *geom, m, int(training))
    return dx, dgamma, dbeta


def _conv_bias_activation(kernel, x, weight, bias, stride, padding, *constants):
    """The convolution without its bias, then ``kernel`` makes y = act(y + b) in place and
    writes act's mask: y, the convolution's saved state, the mask."""
    xp = backend.get_array_module(x)
    y, (x_, weight_, _, geom) = layers.conv2d_forward(x, weight, None, stride=stride, padding=padding)
    n, o = y.shape[:2]
    mask = xp.empty(y.shape, dtype=xp.bool_)
    b = y if bias is None else xp.ascontiguousarray(bias, dtype=y.dtype)  # y: never read without a bias
    launch(kernel, y.size, y, b, mask, y.size, o, y.size // (n * o), int(bias is not None), *constants)
    return y, (x_, weight_, bias is not None, geom), mask


def conv2d_relu_forward(x, weight, bias=None, *, stride=(1, 1), padding=(0, 0), **_):
    """The convolution without its bias, then y = max(y + b, 0) in place (kernel ``bias_relu``)."""
    y, conv_saved, mask = _conv_bias_activation("bias_relu", x, weight, bias, stride, padding)
    return y, (conv_saved, mask)


def conv2d_relu_backward(dy, saved, *, input_grad=True, **_):
    conv_saved, mask = saved
    xp = backend.get_array_module(dy)
    return layers.conv2d_backward(_masked(xp.ascontiguousarray(dy), mask), conv_saved, input_grad=input_grad)


def conv2d_selu_forward(x, weight, bias=None, *, stride=(1, 1), padding=(0, 0), **_):
    """The convolution without its bias, then y = selu(y + b) in place (kernel ``bias_selu``)."""
    y, conv_saved, mask = _conv_bias_activation("bias_selu", x, weight, bias, stride, padding,
                                                selu.ALPHA, selu.SCALE)
    return y, (conv_saved, mask, y)


def conv2d_selu_backward(dy, saved, *, input_grad=True, **_):
    """SELU's gradient from its output (kernel ``selu_backward``), then the convolution's backward."""
    conv_saved, mask, y = saved
    xp = backend.get_array_module(dy)
    dy = xp.ascontiguousarray(dy)
    dz = xp.empty_like(dy)
    launch("selu_backward", dy.size, dy, y, mask, dz, dy.size, selu.SCALE, selu.SCALE * selu.ALPHA)
    return layers.conv2d_backward(dz, conv_saved, input_grad=input_grad)


def _register(op, forward, backward):
    """The fused kernels as op ``op``'s "cuda_fused" implementation on the GPU."""
    return registry.register(op, device="gpu", name="cuda_fused",
                             impl=types.SimpleNamespace(forward=forward, backward=backward))


BATCH_NORM_RELU = _register("batch_norm_relu", batchnorm_relu_forward, batchnorm_relu_backward)
MAX_POOL2D_BATCH_NORM_RELU = _register("max_pool2d_batch_norm_relu", maxpool_bn_relu_forward, maxpool_bn_relu_backward)
CONV2D_RELU = _register("conv2d_relu", conv2d_relu_forward, conv2d_relu_backward)
CONV2D_SELU = _register("conv2d_selu", conv2d_selu_forward, conv2d_selu_backward)

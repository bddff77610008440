"""Element-wise activations: ReLU, SELU, Sigmoid. Any input shape; y has the shape of x.

    ReLU     y = max(x, 0)                        dy/dx = 1 if x > 0 else 0
    SELU     y = scale * x              (x > 0)   dy/dx = scale
             y = scale * alpha (e^x - 1) (x <= 0)  dy/dx = scale * alpha e^x = y + scale * alpha
    Sigmoid  y = 1 / (1 + e^-x)                   dy/dx = y (1 - y)
"""
from minidl import backend
from minidl.kernels import device_layers
from minidl.module import Module


class ReLU(Module):
    def forward(self, x):
        if backend.is_device_array(x):  # GPU: minidl/kernels/relu.cu
            return device_layers.relu_forward(self, x)
        self.save_for_backward(x > 0)  # a bool mask is a quarter of a float32 copy
        return backend.get_array_module(x).maximum(x, 0)

    def backward(self, dy):
        if backend.is_device_array(dy):
            return device_layers.relu_backward(self, dy)
        (positive,) = self.saved()
        return dy * positive


class SELU(Module):
    """Self-normalising ELU (Klambauer et al. 2017), with PyTorch's constants.

    The constants make N(0, 1) a fixed point of the layer's mean and variance,
    so deep SELU networks stay normalised without batch norm.
    """

    alpha = 1.6732632423543772
    scale = 1.0507009873554805

    def forward(self, x):
        xp = backend.get_array_module(x)
        positive = x > 0
        # expm1 of min(x, 0): never overflows, and is exact near 0.
        y = xp.where(positive, x, self.alpha * xp.expm1(xp.minimum(x, 0)))
        y *= self.scale
        self.save_for_backward(positive, y)
        return y

    def backward(self, dy):
        xp = backend.get_array_module(dy)
        positive, y = self.saved()
        slope = xp.where(positive, self.scale, y + self.scale * self.alpha)
        return dy * slope.astype(dy.dtype, copy=False)


class Sigmoid(Module):
    """Logistic function, stable for any |x|: only e^-|x| <= 1 is ever computed,

        sigmoid(x) = 1 / (1 + e^-|x|)      for x >= 0
        sigmoid(x) = e^-|x| / (1 + e^-|x|) for x < 0

    so nothing overflows and tiny outputs for very negative x keep full relative precision.
    """

    def forward(self, x):
        xp = backend.get_array_module(x)
        e = xp.exp(-xp.abs(x))
        y = xp.where(x >= 0, 1, e).astype(x.dtype, copy=False)
        y /= 1 + e
        self.save_for_backward(y)
        return y

    def backward(self, dy):
        (y,) = self.saved()
        return dy * y * (1 - y)


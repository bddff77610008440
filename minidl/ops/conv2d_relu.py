"""2-D convolution (with its bias) followed by ReLU, as ONE op: the pair
``Conv2d(cin, cout, k), ReLU()``. The math is the two references composed:

    z = conv2d(x; W, b)                     y = max(z, 0)              (shapes: minidl/ops/conv2d.py)
    dL/dz = dL/dy * (z > 0)                 dL/dx, dL/dW, dL/db = conv2d's backward of dL/dz

Why an op of its own: on a GPU the bias addition and the ReLU become one pass,
in place on the convolution's output (``minidl/kernels/fused.cu``,
``bias_relu``), where the two layers take a bias pass, a ReLU pass and a new
array for y. ``input_grad=False`` (a first layer) skips dL/dx as in conv2d.
"""
import sys

from minidl.ops import conv2d, registry, relu


def conv2d_then(activation):
    """forward and backward of conv2d followed by an element-wise ``activation`` op
    (this file's ReLU, or SELU in ``conv2d_selu``)."""
    def forward(x, weight, bias=None, *, stride=(1, 1), padding=(0, 0), **_):
        z, conv_saved = conv2d.forward(x, weight, bias, stride=stride, padding=padding)
        y, activation_saved = activation.forward(z)
        return y, (conv_saved, activation_saved)

    def backward(dy, saved, *, input_grad=True, **_):
        conv_saved, activation_saved = saved
        (dz,) = activation.backward(dy, activation_saved)
        return conv2d.backward(dz, conv_saved, input_grad=input_grad)

    return forward, backward


forward, backward = conv2d_then(relu)

C = registry.Case
CASES = [
    C("3x3 pad 1, bias, batch 2", (2, 3, 5, 6), [(4, 3, 3, 3), (4,)], padding=(1, 1)),
    C("stride 2, odd sizes, batch 1", (1, 2, 7, 9), [(3, 2, 3, 3), (3,)], stride=(2, 2)),
    C("no bias, 5x5 pad 2", (2, 2, 6, 5), [(3, 2, 5, 5), None], padding=(2, 2)),
    C("first layer: no input gradient", (2, 3, 6, 6), [(4, 3, 3, 3), (4,)], padding=(1, 1), input_grad=False),
]
registry.define("conv2d_relu", sys.modules[__name__], cases=CASES)

"""2-D convolution (with its bias) followed by SELU, as ONE op: GapNet-PL's
``Conv2d(cin, cout, 3), SELU()``. The math is the two references composed:

    z = conv2d(x; W, b)                     y = selu(z)                (minidl/ops/conv2d.py, selu.py)
    dL/dz = dL/dy * selu'(z)                dL/dx, dL/dW, dL/db = conv2d's backward of dL/dz

Why an op of its own: on a GPU the bias addition and SELU become one pass in
place on the convolution's output (``minidl/kernels/fused.cu``, ``bias_selu``),
and SELU's backward one more (``selu_backward``), where the layers take a bias
pass and SELU's several element-wise passes each way.
"""
import sys

from minidl.ops import conv2d, registry, selu


def forward(x, weight, bias=None, *, stride=(1, 1), padding=(0, 0), **_):
    z, conv_saved = conv2d.forward(x, weight, bias, stride=stride, padding=padding)
    y, selu_saved = selu.forward(z)
    return y, (conv_saved, selu_saved)


def backward(dy, saved, *, input_grad=True, **_):
    conv_saved, selu_saved = saved
    (dz,) = selu.backward(dy, selu_saved)
    return conv2d.backward(dz, conv_saved, input_grad=input_grad)


C = registry.Case
CASES = [
    C("3x3 pad 1, bias, batch 2", (2, 3, 5, 6), [(4, 3, 3, 3), (4,)], padding=(1, 1)),
    C("stride 2, odd sizes, batch 1", (1, 2, 7, 9), [(3, 2, 3, 3), (3,)], stride=(2, 2)),
    C("no bias, 5x5 pad 2", (2, 2, 6, 5), [(3, 2, 5, 5), None], padding=(2, 2)),
    C("first layer: no input gradient", (2, 3, 6, 6), [(4, 3, 3, 3), (4,)], padding=(1, 1), input_grad=False),
]
registry.define("conv2d_selu", sys.modules[__name__], cases=CASES)

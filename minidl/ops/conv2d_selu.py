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

from minidl.ops import conv2d_relu, registry, selu

forward, backward = conv2d_relu.conv2d_then(selu)

# The same geometries as conv2d + ReLU; SELU has no kink, so any input is checkable.
CASES = conv2d_relu.CASES
registry.define("conv2d_selu", sys.modules[__name__], cases=CASES)

"""Element-wise activations: ReLU, SELU, Sigmoid. Any input shape; y has the shape of x.

The math is in ``minidl/ops/relu.py``, ``selu.py`` and ``sigmoid.py``.
"""
from minidl.layers.op_layer import OpLayer
from minidl.ops import selu


class ReLU(OpLayer):
    op = "relu"


class SELU(OpLayer):
    """Self-normalising ELU (Klambauer et al. 2017), with PyTorch's constants."""

    op = "selu"
    alpha = selu.ALPHA
    scale = selu.SCALE


class Sigmoid(OpLayer):
    """Logistic function, stable for any |x| (``minidl/ops/sigmoid.py``)."""

    op = "sigmoid"

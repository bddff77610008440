"""Every layer of minidl, re-exported: ``from minidl.layers import Conv2d, ReLU``.

Each module of this package holds one kind of layer: its parameters, buffers and
arguments. The math is the layer's op in ``minidl/ops`` (``op_layer.OpLayer``).
All follow one contract: ``forward(x)`` keeps what backward needs,
``backward(dy)`` adds parameter gradients into ``.grad`` and returns dL/dx.
"""
from minidl.layers.activations import SELU, ReLU, Sigmoid
from minidl.layers.batchnorm import BatchNorm1d, BatchNorm2d
from minidl.layers.containers import ColumnSplit, Concat, ModuleList, Residual, Sequential
from minidl.layers.conv import Conv2d
from minidl.layers.dropout import AlphaDropout, Dropout
from minidl.layers.global_pooling import AdaptiveAvgPool2d, GlobalAvgPool2d, GlobalMaxPool2d
from minidl.layers.linear import Linear
from minidl.layers.pooling import AvgPool2d, MaxPool2d
from minidl.layers.shape import ChannelSelect, Flatten

__all__ = [
    "AdaptiveAvgPool2d", "AlphaDropout", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "ChannelSelect", "ColumnSplit", "Concat", "Conv2d",
    "Dropout", "Flatten", "GlobalAvgPool2d", "GlobalMaxPool2d",
    "Linear", "MaxPool2d", "ModuleList", "ReLU", "Residual", "SELU", "Sequential", "Sigmoid",
]

"""Global pooling: x (N, C, H, W) -> y (N, C), one value per channel, already flat
(PyTorch's ``Flatten()(AdaptiveAvgPool2d(1)(x))``, resp. ``AdaptiveMaxPool2d``), so a
Linear layer can follow directly; and ``AdaptiveAvgPool2d((oh, ow))``, which keeps
a small map. The math: ``minidl/ops/global_avg_pool2d.py``, ``global_max_pool2d.py``,
``adaptive_avg_pool2d.py``.
"""
from minidl.layers.op_layer import OpLayer


class _Global(OpLayer):
    def forward(self, x):
        if x.ndim != 4:
            raise ValueError(f"x must have shape (N, C, H, W), got {x.shape}")
        return super().forward(x)


class GlobalAvgPool2d(_Global):
    op = "global_avg_pool2d"


class GlobalMaxPool2d(_Global):
    op = "global_max_pool2d"


class AdaptiveAvgPool2d(_Global):
    """Average pooling to a fixed (oh, ow) map, whatever the input size (VGG's 7x7)."""

    op = "adaptive_avg_pool2d"

    def __init__(self, output_size):
        super().__init__()
        size = (output_size, output_size) if not isinstance(output_size, (tuple, list)) else tuple(output_size)
        if len(size) != 2 or not all(isinstance(s, int) and s >= 1 for s in size):
            raise ValueError(f"output_size must be a positive int or pair, got {output_size!r}")
        self.output_size = size

    def hyper(self):
        return dict(output_size=self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"

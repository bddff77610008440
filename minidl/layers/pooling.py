"""Max and average pooling layers over (kh, kw) windows with stride (sh, sw), on NCHW images.

The math is ``minidl/ops/max_pool2d.py`` and ``avg_pool2d.py``; the default CPU
paths are ``minidl/fast_cpu/pool2x2.py`` (2x2 windows, stride 2) and
``window_pool.py``, the GPU one ``minidl/kernels/maxpool.cu``.
"""
from minidl.layers.op_layer import OpLayer
from minidl.ops.geometry import output_size, pair


class _Pool2d(OpLayer):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = pair(kernel_size, "kernel_size", 1)
        self.stride = pair(kernel_size if stride is None else stride, "stride", 1)
        self.padding = pair(padding, "padding", 0)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"padding must be at most half of kernel_size {self.kernel_size}, got {padding!r}")

    def hyper(self):
        return dict(kernel_size=self.kernel_size, stride=self.stride, padding=self.padding)

    def _check(self, x):
        if x.ndim != 4:
            raise ValueError(f"x must have shape (N, C, H, W), got {x.shape}")
        output_size(x.shape, self.kernel_size, self.stride, self.padding)  # ValueError if no window fits

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """``MaxPool2d(kernel_size, stride=None, padding=0)``; stride defaults to kernel_size.

    ``halving`` (keyword only): None lets 2x2 windows with stride 2 and no
    padding take the fast halving paths on the CPU (``fast_cpu/pool2x2.py`` and
    its one-pass twin ``compiled/pool2x2_onepass.py``); False never does (the
    general path, as every other window shape).
    """

    op = "max_pool2d"
    HALVING_IMPLEMENTATIONS = ("halving_2x2", "numba_2x2")

    def __init__(self, kernel_size, stride=None, padding=0, *, halving=None):
        super().__init__(kernel_size, stride, padding)
        if halving not in (None, False):
            raise ValueError(f"halving must be None or False, got {halving!r}")
        self.halving = halving is None and self.kernel_size == self.stride == (2, 2) and self.padding == (0, 0)

    def forward(self, x):
        self._check(x)
        return self.run_forward(x, exclude=() if self.halving else self.HALVING_IMPLEMENTATIONS)[0]

    def extra_repr(self):
        return super().extra_repr() + ("" if self.halving else ", halving=False")


class AvgPool2d(_Pool2d):
    """``AvgPool2d(kernel_size, stride=None, padding=0, count_include_pad=True)``, as PyTorch's:
    with count_include_pad the zero padding counts in the mean, without it only real pixels do."""

    op = "avg_pool2d"

    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad=True):
        super().__init__(kernel_size, stride, padding)
        if not isinstance(count_include_pad, bool):
            raise ValueError(f"count_include_pad must be True or False, got {count_include_pad!r}")
        self.count_include_pad = count_include_pad

    def hyper(self):
        return dict(super().hyper(), count_include_pad=self.count_include_pad)

    def forward(self, x):
        self._check(x)
        return super().forward(x)

    def extra_repr(self):
        return super().extra_repr() + ("" if self.count_include_pad else ", count_include_pad=False")

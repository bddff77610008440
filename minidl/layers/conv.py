"""2-D convolution layer. The math (im2col and one matrix product) is ``minidl/ops/conv2d.py``;
the default CPU path is ``minidl/fast_cpu/conv_folded.py``, the GPU one ``minidl/kernels``.

Shapes: x (N, C, H, W), weight (O, C, kh, kw), bias (O,), y (N, O, Ho, Wo) with
Ho = (H + 2*ph - kh) // sh + 1 (likewise Wo).
"""
from minidl import init
from minidl.fast_cpu.conv_folded import choose_fold
from minidl.layers.op_layer import OpLayer
from minidl.module import Parameter
from minidl.ops.geometry import output_size, pair


class Conv2d(OpLayer):
    """``Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True)``.

    kernel_size, stride and padding are ints or (h, w) pairs. ``memory_budget``
    (bytes, keyword only) caps this layer's im2col buffer on the fast CPU path;
    None uses ``minidl.fast_cpu.windows.set_memory_budget``'s global value.
    ``fold`` (keyword only) chooses folded im2col (True, stride 1 only) or plain
    im2col (False) on that path; None picks the faster one for the layer's
    shape. ``input_grad=False`` (keyword only) is for a first layer, whose
    input is data: backward then computes the parameter gradients only and
    returns None (no input-gradient product, no col2im), and ``Sequential``
    and ``Concat`` pass that None on instead of going further back.
    """

    op = "conv2d"
    param_names = ("weight", "bias")

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True, *,
                 memory_budget=None, fold=None, input_grad=True):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if memory_budget is not None and (not isinstance(memory_budget, int) or memory_budget < 1):
            raise ValueError(f"memory_budget must be a positive number of bytes or None, got {memory_budget!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = pair(kernel_size, "kernel_size", 1)
        self.stride = pair(stride, "stride", 1)
        self.padding = pair(padding, "padding", 0)
        self.memory_budget = memory_budget
        if fold not in (None, True, False):
            raise ValueError(f"fold must be True, False or None, got {fold!r}")
        if fold and self.stride != (1, 1):
            raise ValueError(f"fold=True needs stride 1, got stride={stride!r}")
        self.fold = choose_fold(in_channels, out_channels, self.kernel_size, self.stride) if fold is None else fold
        self.input_grad = bool(input_grad)
        shape = (out_channels, in_channels) + self.kernel_size
        self.weight = Parameter(init.torch_default(shape))
        # PyTorch bounds the bias like the weight: by 1/sqrt(fan_in).
        self.bias = Parameter(init.uniform(out_channels, 1 / init.fan_in(shape) ** 0.5)) if bias else None

    def hyper(self):
        return dict(stride=self.stride, padding=self.padding, input_grad=self.input_grad,
                    fold=self.fold, memory_budget=self.memory_budget)

    def _check(self, x):
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must have shape (N, {self.in_channels}, H, W), got {x.shape}")
        output_size(x.shape, self.kernel_size, self.stride, self.padding)  # ValueError if no window fits

    def forward(self, x):
        self._check(x)
        return super().forward(x)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}, fold={self.fold}"
                + ("" if self.input_grad else ", input_grad=False"))

"""Fully connected layer: y = x W^T + b (the math: ``minidl/ops/linear.py``).

Shapes: x (N, in), W (out, in) as in PyTorch, b (out,), y (N, out).
"""
from minidl import init
from minidl.layers.op_layer import OpLayer
from minidl.module import Parameter


class Linear(OpLayer):
    op = "linear"
    param_names = ("weight", "bias")

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(init.torch_default((out_features, in_features)))
        # PyTorch bounds the bias by 1/sqrt(fan_in) of the weight, i.e. of in_features.
        self.bias = Parameter(init.uniform(out_features, 1 / in_features ** 0.5)) if bias else None

    def forward(self, x):
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"x must have shape (N, {self.in_features}), got {x.shape}")
        return super().forward(x)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"

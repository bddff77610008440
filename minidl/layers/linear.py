"""Fully connected layer: y = x W^T + b.

Shapes: x (N, in), W (out, in) as in PyTorch, b (out,), y (N, out).

Backward, with g = dL/dy (N, out): each y[n, o] = sum_i x[n, i] W[o, i] + b[o], so

    dL/dW = g^T x   (out, in)     dL/db = sum_n g[n]   (out,)     dL/dx = g W   (N, in)

The forward product is computed as (W x^T)^T: for a wide layer and a small
batch (32768 -> 128, batch 32) OpenBLAS runs x @ W^T, whose second operand is
the transposed weight, 3-7x slower on 2 threads than W @ x^T.
"""
from minidl import backend, init
from minidl.module import Module, Parameter


class Linear(Module):
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
        self.save_for_backward(x)
        xp = backend.get_array_module(x)
        y = xp.ascontiguousarray((self.weight.data.astype(x.dtype, copy=False) @ x.T).T)
        if self.bias is not None:
            y += self.bias.data.astype(x.dtype, copy=False)
        return y

    def backward(self, dy):
        (x,) = self.saved()
        self.weight.grad += dy.T @ x
        if self.bias is not None:
            self.bias.grad += dy.sum(axis=0)
        return dy @ self.weight.data.astype(dy.dtype, copy=False)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"

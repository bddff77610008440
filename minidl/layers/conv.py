"""2-D convolution (cross-correlation, as in every deep-learning library).

Shapes: x (N, C, H, W), weight W (O, C, kh, kw), bias b (O,), y (N, O, Ho, Wo) with
Ho = (H + 2*ph - kh) // sh + 1 (likewise Wo). With zero padding,

    y[n, o, r, s] = b[o] + sum_{c,i,j} W[o, c, i, j] * xpad[n, c, r*sh + i, s*sw + j]

im2col (see ``windows``) turns this into ONE matrix product per chunk of
samples: with the windows of the chunk's n samples as the columns of cols
(K, n*P), K = C*kh*kw, P = Ho*Wo, and W as an (O, K) matrix,

    Y = W @ cols + b          (O, n*P), reordered to y (n, O, Ho, Wo)

Backward, with G = dL/dY (O, n*P), is the algebra of a dense layer:

    dL/dW = G @ cols^T        dL/db = sum of G over its columns
    dL/dcols = W^T @ G        dL/dx = col2im(dL/dcols)

Layout. cols is K by columns, so the im2col copy and col2im move image rows as
long contiguous runs; with stride 1 the runs span whole padded rows
(``windows.row_width``: a few junk output columns are computed and dropped).
The products are float32 BLAS calls; dW is computed as its transpose
cols @ G^T, an orientation OpenBLAS runs faster when O is small.

Memory. cols is kh*kw times bigger than x, so it is built chunk by chunk into
a reused workspace (``CHUNK_BYTES``, never more than the memory budget), and it
is NOT kept for backward: backward rebuilds it from the padded input it keeps
(one copy of x). That costs one more im2col copy per step (about a tenth of the
layer's time) but keeps a deep network's memory at its activations plus one
chunk, however many convolutions it has.
"""
from minidl import backend, init
from minidl.layers import windows
from minidl.module import Module, Parameter

# Preferred size of a chunk's columns. Smaller chunks stay in cache (4 MiB runs up
# to 1.3x faster on an idle machine) but make more BLAS calls, and each threaded
# call waits for its worker threads: on a loaded machine that wait dominated
# (4 MiB chunks ran 2-5x slower than 64 MiB ones). 64 MiB chunks run as fast as
# whole-batch ones, with a bounded workspace.
CHUNK_BYTES = 64 << 20


class Conv2d(Module):
    """``Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True)``.

    kernel_size, stride and padding are ints or (h, w) pairs. ``memory_budget``
    (bytes, keyword only) caps this layer's im2col buffer; None uses
    ``windows.set_memory_budget``'s global value.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True, *,
                 memory_budget=None):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if memory_budget is not None and (not isinstance(memory_budget, int) or memory_budget < 1):
            raise ValueError(f"memory_budget must be a positive number of bytes or None, got {memory_budget!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = windows.pair(kernel_size, "kernel_size", 1)
        self.stride = windows.pair(stride, "stride", 1)
        self.padding = windows.pair(padding, "padding", 0)
        self.memory_budget = memory_budget
        shape = (out_channels, in_channels) + self.kernel_size
        self.weight = Parameter(init.torch_default(shape))
        # PyTorch bounds the bias like the weight: by 1/sqrt(fan_in).
        self.bias = Parameter(init.uniform(out_channels, 1 / init.fan_in(shape) ** 0.5)) if bias else None

    def _geometry(self, x_shape):
        """Output rows Ho and width Wo, and the computed row width Wr >= Wo (windows.row_width)."""
        ho, wo = windows.output_size(x_shape, self.kernel_size, self.stride, self.padding)
        return ho, wo, windows.row_width(x_shape, self.kernel_size, self.stride, self.padding)

    def _chunks(self, x_shape, dtype):
        """Chunks of (samples, output rows): their columns and products stay within the budget."""
        ho, _, wr = self._geometry(x_shape)
        k = x_shape[1] * self.kernel_size[0] * self.kernel_size[1]
        row_bytes = dtype.itemsize * wr * (k + self.out_channels)
        return windows.chunks(x_shape[0], ho, row_bytes, CHUNK_BYTES, self.memory_budget)

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must have shape (N, {self.in_channels}, H, W), got {x.shape}")
        xp = backend.get_array_module(x)
        n, o = x.shape[0], self.out_channels
        ho, wo, wr = self._geometry(x.shape)
        # Junk columns (wr > wo) read up to kw - 1 past the last row: one more zero row.
        xpad = windows.pad(x, self.padding, extra_rows=int(wr > wo))
        view = windows.window_view(xpad, self.kernel_size, self.stride, ho, wr)
        weight = self.weight.data.astype(x.dtype, copy=False).reshape(o, -1)
        y = xp.empty((n, o, ho, wo), dtype=x.dtype)
        for samples, rows in self._chunks(x.shape, x.dtype):
            chunk = view[samples, :, :, :, rows]
            cols = windows.im2col(chunk)
            prod = windows.workspace("prod", (o, cols.shape[1]), x.dtype, x)
            xp.matmul(weight, cols, out=prod)
            # (O, n, rows, Wr) -> (n, O, rows, Wo): drop the junk columns on the way out.
            prod = prod.reshape(o, chunk.shape[0], -1, wr)[..., :wo].transpose(1, 0, 2, 3)
            if self.bias is None:
                y[samples, :, rows] = prod
            else:
                xp.add(prod, self.bias.data.astype(x.dtype, copy=False)[:, None, None], out=y[samples, :, rows])
        self._cache = xpad, x.shape  # backward rebuilds the columns from xpad
        return y

    def backward(self, dy):
        xpad, x_shape = self._cache
        xp = backend.get_array_module(dy)
        (ph, pw), o = self.padding, self.out_channels
        h, w = x_shape[2:]
        ho, wo, wr = self._geometry(x_shape)
        view = windows.window_view(xpad, self.kernel_size, self.stride, ho, wr)
        dxpad = xp.zeros(xpad.shape, dtype=dy.dtype)
        dview = windows.window_view(dxpad, self.kernel_size, self.stride, ho, wr)
        weight = self.weight.data.astype(dy.dtype, copy=False).reshape(o, -1)
        dweight_t = xp.zeros(weight.shape[::-1], dtype=dy.dtype)
        dbias = xp.zeros(o, dtype=dy.dtype) if self.bias is not None else None
        zeroed = None
        for samples, rows in self._chunks(x_shape, dy.dtype):
            chunk = view[samples, :, :, :, rows]
            cols = windows.im2col(chunk)
            shape = (o, chunk.shape[0], chunk.shape[4], wr)
            g = windows.workspace("grad", shape, dy.dtype, dy)
            if shape != zeroed:  # junk columns are never written below: zero them once
                g[...], zeroed = 0, shape
            g[..., :wo] = dy[samples, :, rows].transpose(1, 0, 2, 3)
            g = g.reshape(o, -1)
            # dW^T = cols @ g^T: this orientation runs faster in BLAS than dW = g @ cols^T.
            dweight_t += xp.matmul(cols, g.T)
            if dbias is not None:
                dbias += g.sum(axis=1)  # while g is in cache
            # cols is spent: the column gradient overwrites it in the workspace.
            windows.col2im(xp.matmul(weight.T, g, out=cols), dview[samples, :, :, :, rows])
        self.weight.grad += dweight_t.T.reshape(self.weight.shape)
        if dbias is not None:
            self.bias.grad += dbias
        return dxpad[:, :, ph:ph + h, pw:pw + w]

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}")

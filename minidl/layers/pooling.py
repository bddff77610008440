"""Max and average pooling over (kh, kw) windows with stride (sh, sw), on NCHW images.

Shapes: x (N, C, H, W) -> y (N, C, Ho, Wo), Ho = (H + 2*ph - kh) // sh + 1 (floor,
like PyTorch's ceil_mode=False: a partial window at the border is dropped).

Max pooling: y[n, c, r, s] = max_{i,j} xpad[n, c, r*sh + i, s*sw + j], padding with
-inf so a padded pixel never wins. The gradient of each output flows to the one
input that won: the first maximum in window order (i, then j), as an argmax
picks it, so on ties exactly one input per window receives dy.

Average pooling: y = mean_{i,j} xpad[...], padding with zeros that count in the
mean (PyTorch's count_include_pad=True), so every input of a window receives
dy / (kh*kw). With ``count_include_pad=False`` the sum is divided instead by
the number of real (unpadded) pixels in the window, n[r, s] = nh[r] * nw[s]
with nh[r] = #{i : 0 <= r*sh - ph + i < H}, and every input of the window
receives dy / n[r, s] (Inception's 3x3 stride-1 branches pool this way, so
border pixels are not darkened by the zeros).

Both loop over the kh*kw kernel offsets, each an (N, C, Ho, Wo) strided slice of
the padded input (``windows.window_view``); backward puts each offset's share of
dy into the matching slice of the input gradient. Within one offset no pixel is
hit twice, so this needs no scatter-add: when windows do not overlap (stride >=
kernel) every pixel gets exactly one share and it is written directly; when they
overlap, shares are added. The work runs in cache-sized chunks of the batch
(``windows.chunks``), so the kh*kw passes over each chunk read cache, not memory:
three times faster than whole-batch passes, and faster than reshaping the
batch to (N, C, Ho, kh, Wo, kw) and reducing over two short axes.

``MaxPool2d(2)`` (kernel 2, stride 2, no padding: every CNN's halving) takes a
faster path by default, ``pool2x2``: two binary choices instead of an argmax
over 4 offsets. ``halving=False`` keeps this module's general loop, the
reference the tests compare it with.
"""
from minidl import backend
from minidl.kernels import device_layers
from minidl.layers import pool2x2, windows
from minidl.module import Module

CHUNK_BYTES = 4 << 20  # of input per chunk: passes over it then read cache (measured 1.8x faster)


class _Pool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = windows.pair(kernel_size, "kernel_size", 1)
        self.stride = windows.pair(kernel_size if stride is None else stride, "stride", 1)
        self.padding = windows.pair(padding, "padding", 0)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"padding must be at most half of kernel_size {self.kernel_size}, got {padding!r}")

    def _offsets(self):
        """Kernel offsets (o, i, j) in window order, o = i*kw + j."""
        kh, kw = self.kernel_size
        return [(i * kw + j, i, j) for i in range(kh) for j in range(kw)]

    def _windows(self, x, fill):
        """Check ``x``; the window view (N, C, kh, kw, Ho, Wo) of ``x`` padded with
        ``fill`` and the chunks to work through it in (both kept for backward)."""
        if x.ndim != 4:
            raise ValueError(f"x must have shape (N, C, H, W), got {x.shape}")
        out = windows.output_size(x.shape, self.kernel_size, self.stride, self.padding)
        xpad = windows.pad(x, self.padding, fill)
        view = windows.window_view(xpad, self.kernel_size, self.stride, *out)
        # Bytes of input under one row of outputs.
        row_bytes = x.dtype.itemsize * x.shape[1] * xpad.shape[3] * max(self.stride[0], self.kernel_size[0])
        chunks = windows.chunks(x.shape[0], out[0], row_bytes, CHUNK_BYTES)
        self._geometry = x.shape, out, chunks
        return view, chunks

    def _input_gradient(self, dy, share):
        """dx (N, C, H, W) from ``share(chunk, o)``: the part of dy[chunk] that goes to offset o."""
        xp = backend.get_array_module(dy)
        (ph, pw), (x_shape, out, chunks) = self.padding, self._geometry
        h, w = x_shape[2:]
        dxpad = xp.zeros(x_shape[:2] + (h + 2 * ph, w + 2 * pw), dtype=dy.dtype)
        target = windows.window_view(dxpad, self.kernel_size, self.stride, *out)
        overlap = any(s < k for s, k in zip(self.stride, self.kernel_size))
        for samples, rows in chunks:
            chunk = samples, slice(None), rows
            for o, i, j in self._offsets():
                part = target[samples, :, i, j, rows]
                if overlap:
                    part += share(chunk, o)
                else:  # every pixel is in one window at most: no need to read dx
                    part[...] = share(chunk, o)
        return dxpad[:, :, ph:ph + h, pw:pw + w]

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """``MaxPool2d(kernel_size, stride=None, padding=0)``; stride defaults to kernel_size.

    ``halving`` (keyword only): None uses ``pool2x2`` when the windows are 2x2
    with stride 2 and no padding, False always the general loop.
    """

    def __init__(self, kernel_size, stride=None, padding=0, *, halving=None):
        super().__init__(kernel_size, stride, padding)
        if halving not in (None, False):
            raise ValueError(f"halving must be None or False, got {halving!r}")
        self.halving = halving is None and self.kernel_size == self.stride == (2, 2) and self.padding == (0, 0)

    def forward(self, x):
        if backend.is_device_array(x) and x.ndim == 4:  # GPU: minidl/kernels/maxpool.cu
            return device_layers.maxpool2d_forward(self, x)
        if self.halving:
            if x.ndim != 4:
                raise ValueError(f"x must have shape (N, C, H, W), got {x.shape}")
            y, masks = pool2x2.forward(x)
            self.save_for_backward(masks, x.shape)
            return y
        xp = backend.get_array_module(x)
        view, chunks = self._windows(x, -float("inf"))
        kh, kw = self.kernel_size
        y = xp.empty(view.shape[:2] + view.shape[4:], dtype=x.dtype)
        # Offset index o = i*kw + j of each window's winner.
        argmax = xp.empty(y.shape, dtype=xp.uint8 if kh * kw <= 256 else xp.int32)
        for samples, rows in chunks:
            v, best, arg = view[samples, :, :, :, rows], y[samples, :, rows], argmax[samples, :, rows]
            best[...] = v[:, :, 0, 0]
            arg[...] = 0
            for o, i, j in self._offsets()[1:]:
                better = v[:, :, i, j] > best
                xp.maximum(best, v[:, :, i, j], out=best)
                # o only grows, so the last strict improvement, i.e. the first maximum, wins.
                xp.maximum(arg, xp.multiply(better, o, dtype=arg.dtype), out=arg)
        self.save_for_backward(argmax)
        return y

    def backward(self, dy):
        if backend.is_device_array(dy):
            return device_layers.maxpool2d_backward(self, dy)
        if self.halving:
            return pool2x2.backward(dy, *self.saved())
        (argmax,) = self.saved()
        return self._input_gradient(dy, lambda chunk, o: (argmax[chunk] == o) * dy[chunk])

    def extra_repr(self):
        return super().extra_repr() + ("" if self.halving else ", halving=False")


class AvgPool2d(_Pool2d):
    """``AvgPool2d(kernel_size, stride=None, padding=0, count_include_pad=True)``.

    With ``count_include_pad`` (PyTorch's default) the zero padding counts in
    the mean; without it each window's sum is divided by its real pixels only.
    """

    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad=True):
        super().__init__(kernel_size, stride, padding)
        self.count_include_pad = bool(count_include_pad)

    def _scale(self, xp, x_shape, out, dtype):
        """1 / (pixels averaged) per output: a scalar, or (Ho, Wo) without count_include_pad."""
        if self.count_include_pad or self.padding == (0, 0):
            return 1 / (self.kernel_size[0] * self.kernel_size[1])
        counts = []
        for size, k, s, p, n in zip(x_shape[2:], self.kernel_size, self.stride, self.padding, out):
            start = xp.arange(n) * s - p  # first input row (column) of each window, in unpadded coordinates
            counts.append(xp.minimum(start + k, size) - xp.maximum(start, 0))
        return (1 / (counts[0][:, None] * counts[1][None, :])).astype(dtype)

    def forward(self, x):
        xp = backend.get_array_module(x)
        view, chunks = self._windows(x, 0.0)
        y = xp.empty(view.shape[:2] + view.shape[4:], dtype=x.dtype)
        scale = self._scale(xp, x.shape, y.shape[2:], x.dtype)
        self.save_for_backward(scale)
        for samples, rows in chunks:
            v, total = view[samples, :, :, :, rows], y[samples, :, rows]
            total[...] = v[:, :, 0, 0]
            for _, i, j in self._offsets()[1:]:
                total += v[:, :, i, j]
            total *= scale if isinstance(scale, float) else scale[rows]
        return y

    def backward(self, dy):
        (scale,) = self.saved()
        share = dy * scale
        return self._input_gradient(dy, lambda chunk, o: share[chunk])

    def extra_repr(self):
        return super().extra_repr() + ("" if self.count_include_pad else ", count_include_pad=False")

"""Fast CPU conv2d: plain or folded im2col, in chunks, into reused workspaces.

The math is ``minidl/ops/conv2d.py``; this is the same convolution arranged for
OpenBLAS and the caches (its gains, measured, are below).

Shapes: x (N, C, H, W), weight W (O, C, kh, kw), bias b (O,), y (N, O, Ho, Wo) with
Ho = (H + 2*ph - kh) // sh + 1 (likewise Wo). With zero padding,

    y[n, o, r, s] = b[o] + sum_{c,i,j} W[o, c, i, j] * xpad[n, c, r*sh + i, s*sw + j]

Plain im2col (see ``windows``; columns here are windows by COLUMN, (K, n*P)) turns this into ONE matrix product per chunk of
samples: with the windows of the chunk's n samples as the columns of cols
(K, n*P), K = C*kh*kw, P = Ho*Wo, and W as an (O, K) matrix,

    Y = W @ cols + b          (O, n*P), reordered to y (n, O, Ho, Wo)

Backward, with G = dL/dY (O, n*P), is the algebra of a dense layer:

    dL/dW = G @ cols^T        dL/db = sum of G over its columns
    dL/dcols = W^T @ G        dL/dx = col2im(dL/dcols)

Folded im2col (stride 1 only). Kernel column j reads what kernel column 0
reads, j pixels further right. So im2col can copy the kernel ROWS only,

    rows[(c, i), (n, r, s)] = xpad[n, c, r + i, s]                  (C*kh, n*P)

and the kernel columns move into the ROWS of the weight matrix:

    Wf[(j, o), (c, i)] = W[o, c, i, j]                              (kw*O, C*kh)
    Z = Wf @ rows                                                   (kw*O, n*P)

Z[(j, o), (n, r, s)] = sum_{c,i} W[o, c, i, j] * xpad[n, c, r + i, s] is what
kernel column j adds to output pixel (r, s - j), so the output is a sum of kw
shifted slices of Z:

    y[n, o, r, s] = b[o] + sum_j Z[(j, o), (n, r, s + j)]

Backward mirrors it. With Gs[(j, o), (n, r, s)] = G[o, (n, r, s - j)], kw copies
of G shifted right (zero where s - j < 0),

    dL/dWf = Gs @ rows^T      dL/drows = Wf^T @ Gs      dL/dx = col2im(dL/drows)

where col2im now adds kh slices instead of kh*kw.

Which path. Both do the same flops. Per output pixel, the plain path's buffers
(cols and Y) hold C*kh*kw + O numbers, the folded path's (rows and Z) C*kh + kw*O:
(kw - 1)*(C*kh - O) fewer, so folding moves less memory exactly when C*kh > O.
Its products are also taller and shorter, a shape OpenBLAS runs faster. For the
5x5 16 -> 32 layer of the parallel LeNet, the forward product (160, 80) @ (80, n*P)
runs at about twice the GFLOP/s of (32, 400) @ (400, n*P) (the backward ones at
1-1.3x), im2col and col2im move 5x less, and the layer takes 0.6-0.7x the time.
``fold=None`` folds a stride-1 layer when C*kh >= O: that picked the faster path
in all 22 shapes measured (near C*kh = O the two are within 10%). A first layer
(2-4 input channels) stays plain: its folded inner dimension C*kh would be too
short for BLAS.

One code serves both paths: im2col copies kc kernel columns and the product
folds f of them, (kc, f) = (kw, 1) plain or (1, kw) folded; with f = 1 there is
nothing to shift. A ``ConvPlan`` (``conv_plan``) names these numbers and the
rest of the geometry for one input shape. ``fold`` (None: choose as above) and
``memory_budget`` (bytes, None: the global budget) come from ``Conv2d``.

Layout. cols is K by columns, so the im2col copy and col2im move image rows as
long contiguous runs; with stride 1 the runs span whole padded rows
(``windows.row_width``: a few junk output columns are computed and dropped).
The junk columns also keep the folded shifts inside a row: s + j < Wp for every
kept column s < Wo. The products are float32 BLAS calls; dW is computed as dW
or as its transpose, whichever has more rows: OpenBLAS splits that side
between its threads, and the other orientation ran 2-20x slower on 2 threads.

Memory. cols is kh*kc times bigger than x, so it is built chunk by chunk into
a reused workspace (``CHUNK_BYTES``, never more than the memory budget), and it
is NOT kept for backward: backward rebuilds it from the padded input it keeps
(one copy of x). That costs one more im2col copy per step (about a tenth of the
layer's time) but keeps a deep network's memory at its activations plus one
chunk, however many convolutions it has.
"""
import sys

from minidl import backend
from minidl.fast_cpu import windows
from minidl.fast_cpu.conv_plan import ConvPlan
from minidl.ops import registry

# Preferred size of a chunk's columns. Smaller chunks stay in cache (4-8 MiB run
# 1.2-1.3x faster on an idle machine, both paths) but make more BLAS calls, and
# each threaded call waits for its worker threads: on a loaded machine that wait
# dominated (4-8 MiB chunks ran 1.3-5x slower than 64 MiB ones next to a second
# training process). 64 MiB chunks run as fast as whole-batch ones, with a bounded
# workspace. A run that has the machine to itself can ask for small chunks with
# ``windows.set_memory_budget``.
CHUNK_BYTES = 64 << 20




def choose_fold(in_channels, out_channels, kernel_size, stride):
    """The path with the smaller buffers (module docstring): fold a stride-1 layer when C*kh >= O."""
    return tuple(stride) == (1, 1) and in_channels * kernel_size[0] >= out_channels


def plan_for(x_shape, weight_shape, stride, padding, fold):
    if fold is None:
        fold = choose_fold(weight_shape[1], weight_shape[0], weight_shape[2:], stride)
    return ConvPlan.of(x_shape, weight_shape, stride, padding, fold)


def chunk_ranges(x_shape, dtype, plan, memory_budget):
    """Chunks of (samples, output rows): their columns and products stay within the budget."""
    return windows.chunks(x_shape[0], plan.out_rows, plan.row_bytes(dtype.itemsize), CHUNK_BYTES, memory_budget)


def weight_matrix(weight, dtype, plan):
    """W (O, C, kh, kw) as the (f*O, C*kh*kc) matrix Wf[(jf, o), (c, i, jc)], j = jc*f + jf."""
    o, c, kh, _ = weight.shape
    weight = weight.astype(dtype, copy=False).reshape(o, c, kh, plan.copied_kernel_cols, plan.folded_kernel_cols)
    return weight.transpose(4, 0, 1, 2, 3).reshape(plan.prod_rows, plan.col_rows)


def _windows(xpad, kernel_rows, stride, plan):
    """The (N, C, kh, kc, Ho, Wr) window view im2col copies from."""
    return windows.window_view(xpad, (kernel_rows, plan.copied_kernel_cols), stride, plan.out_rows, plan.row_width)


def forward(x, weight, bias=None, *, stride=(1, 1), padding=(0, 0), fold=None, memory_budget=None, **_):
    xp = backend.get_array_module(x)
    n, o = x.shape[0], weight.shape[0]
    plan = plan_for(x.shape, weight.shape, stride, padding, fold)
    wo, wr, folded = plan.out_cols, plan.row_width, plan.folded_kernel_cols
    xpad = windows.pad(x, padding, extra_rows=plan.extra_rows)
    view = _windows(xpad, weight.shape[2], stride, plan)
    wmat = weight_matrix(weight, x.dtype, plan)
    y = xp.empty((n, o, plan.out_rows, wo), dtype=x.dtype)
    for samples, rows in chunk_ranges(x.shape, x.dtype, plan, memory_budget):
        chunk = view[samples, :, :, :, rows]
        cols = windows.im2col(chunk)
        t = cols.shape[1]
        prod = windows.workspace("prod", (plan.prod_rows, t), x.dtype, x)
        xp.matmul(wmat, cols, out=prod)
        prod = prod.reshape(folded, o, t)
        # Z[j] holds kernel column j's share of output column s at column s + j:
        # add it in shifted left. The last j columns get no share, but they are junk.
        for j in range(1, folded):
            prod[0, :, :t - j] += prod[j, :, j:]
        # (O, n, rows, Wr) -> (n, O, rows, Wo): drop the junk columns on the way out.
        out = prod[0].reshape(o, chunk.shape[0], -1, wr)[..., :wo].transpose(1, 0, 2, 3)
        if bias is None:
            y[samples, :, rows] = out
        else:
            xp.add(out, bias.astype(x.dtype, copy=False)[:, None, None], out=y[samples, :, rows])
    # backward rebuilds the columns from xpad
    return y, (xpad, x.shape, weight, bias is not None, stride, padding, plan)


def backward(dy, saved, *, input_grad=True, memory_budget=None, **_):
    xpad, x_shape, weight, has_bias, stride, (ph, pw), plan = saved
    xp = backend.get_array_module(dy)
    o, kh = weight.shape[0], weight.shape[2]
    h, w = x_shape[2:]
    wo, wr, folded = plan.out_cols, plan.row_width, plan.folded_kernel_cols
    view = _windows(xpad, kh, stride, plan)
    if input_grad:
        dxpad = xp.zeros(xpad.shape, dtype=dy.dtype)
        dview = _windows(dxpad, kh, stride, plan)
    wmat = weight_matrix(weight, dy.dtype, plan)
    # A C-ordered copy of Wf^T (small): OpenBLAS ran the column-gradient
    # product 1.2x slower with the transposed view.
    weight_t = xp.ascontiguousarray(wmat.T) if input_grad else None
    # Accumulate dWf (f*O, C*kh*kc) or its transpose, whichever has more rows (module docstring).
    grad_first = plan.prod_rows >= plan.col_rows
    dweight = xp.zeros(wmat.shape if grad_first else wmat.shape[::-1], dtype=dy.dtype)
    dbias = xp.zeros(o, dtype=dy.dtype) if has_bias else None
    for samples, rows in chunk_ranges(x_shape, dy.dtype, plan, memory_budget):
        chunk = view[samples, :, :, :, rows]
        cols = windows.im2col(chunk)
        t = cols.shape[1]
        shifted = windows.workspace("grad", (folded, o, t), dy.dtype, dy)  # Gs, one copy of G per j
        grad = shifted[0].reshape(o, chunk.shape[0], -1, wr)  # G as (O, n, rows, Wr)
        grad[..., :wo] = dy[samples, :, rows].transpose(1, 0, 2, 3)
        grad[..., wo:] = 0  # junk columns: no gradient
        # Gs: copy j of G moves right by j, to where kernel column j read. Each
        # copy is made as ONE flat run (2-D copies shifted within one buffer ran
        # 6-9x slower in NumPy): the last j values of each row of G then wrap
        # into the first j of the next row instead of zeros, but they are junk
        # columns (j <= kw - 1 = Wr - Wo), zero already.
        flat = shifted.reshape(folded, o * t)
        for j in range(1, folded):
            flat[j, :j] = 0  # nothing to the left of the first row
            flat[j, j:] = flat[0, :o * t - j]
        if dbias is not None:
            dbias += shifted[0].sum(axis=1)  # while G is in cache
        shifted = shifted.reshape(plan.prod_rows, t)
        dweight += xp.matmul(shifted, cols.T) if grad_first else xp.matmul(cols, shifted.T)
        if input_grad:  # cols is spent: the column gradient overwrites it in the workspace.
            windows.col2im(xp.matmul(weight_t, shifted, out=cols), dview[samples, :, :, :, rows])
    dweight = dweight if grad_first else dweight.T
    # dWf[(jf, o), (c, i, jc)] -> dW[o, c, i, j]: the inverse of weight_matrix.
    dweight = dweight.reshape(folded, o, x_shape[1], kh, plan.copied_kernel_cols)
    dweight = dweight.transpose(1, 2, 3, 4, 0).reshape(weight.shape)
    return (dxpad[:, :, ph:ph + h, pw:pw + w] if input_grad else None), dweight, dbias


registry.register("conv2d", device="cpu", name="folded_im2col", impl=sys.modules[__name__])

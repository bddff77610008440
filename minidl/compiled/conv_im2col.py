"""conv2d as ``minidl/fast_cpu/conv_folded.py`` computes it, with its memory passes compiled and threaded.

The math and the layout (plain or folded im2col, the Wr-wide rows with junk
columns, the chunks and workspaces, dW or its transpose) are those of
``conv_folded``; read its docstring first. The matrix products stay NumPy's
(OpenBLAS, threaded). What NumPy did around them on one core, in several
passes, is done here by the numba kernels of ``conv_passes``, split over the
cores, one pass each:

    forward:  im2col                          xpad -> cols
              Z = Wf @ cols                   (BLAS)
              fold_out                        the f shifted slices of Z + bias -> y, junk dropped
    backward: im2col                          (rebuilt from xpad, as in conv_folded)
              shifted_grad                    dy -> Gs (f shifted copies, junk zeroed) and db
              dWf = Gs @ cols^T               (BLAS)
              dcols = Wf^T @ Gs               (BLAS; skipped for a first layer, input_grad=False)
              col2im                          a gather per padded input row, no scatter

The NumPy path made up to five passes in forward (the products' shifted adds,
then the reorder with the bias) and four in backward (reorder, junk zeroing,
shifts, bias sum), all single-threaded.

Results: y and dx are bit-identical to ``conv_folded``'s (same additions in the
same order), on every run and for any number of threads; dW is the same BLAS
product; db is summed in float64 (``conv_passes``).

Stride-1 layers with 1-2 input channels (a first layer) skip im2col altogether:
``conv_direct`` (its docstring has the measurements that chose that rule).

Measured gain (2-core Haswell, OpenBLAS Haswell kernel; the machine shared with
the lead's notebooks and another engineer's test run, load average 3-4, so
every figure is about twice an idle machine's; forward+backward float32,
``python -m minidl.bench --only conv --repeat 9``, this implementation, the
NumPy path and PyTorch in one run, ms):

    layer                         compiled   NumPy   PyTorch
    conv3x3 4->32 128x128 b16       137.1    148.1    115.3
    conv3x3 32->64 64x64 b16        178.1    216.0    142.6
    conv3x3 64->128 32x32 b16       141.8    141.0    140.3
    conv5x5 2->16 128x128 b32       123.0    229.0    175.8    (direct path)
    conv5x5 16->32 64x64 b32        254.6    275.8    174.4    (folded)

The memory passes of the folded 16->32 layer drop from about 70 to 30 ms per
forward+backward (measured one by one, b32, less loaded); the products, 80 ms
of its 110 ms, are unchanged, so the layer gains 8-15%. The parallel LeNet's
step: ``python -m hpa.bench.steps --repeat 5 --only "ParallelLeNet (hpa)"``
1700 ms with the other compiled kernels and the NumPy conv, 1509 ms with this
one (NumPy path 1873 / 1828, PyTorch channels_last 760 / 745, same runs).
"""
import sys

import numpy

from minidl import compiled
from minidl.compiled import conv_direct, conv_passes
from minidl.fast_cpu import windows
from minidl.fast_cpu.conv_folded import chunk_ranges, plan_for, weight_matrix


def supports(x, *_, **__):
    return compiled.host_float(x)


def _im2col(planes, samples, rows, kernel, stride, plan, wp):
    """The chunk's columns (C*kh*kc, n, rows, Wr) in the workspace."""
    n = samples.stop - samples.start
    cols = windows.workspace("cols", (plan.col_rows, n, rows.stop - rows.start, plan.row_width), planes.dtype, planes)
    conv_passes.im2col(planes, cols, samples.start, rows.start, kernel[0], plan.copied_kernel_cols, *stride, wp)
    return cols


def forward(x, weight, bias=None, *, stride=(1, 1), padding=(0, 0), fold=None, memory_budget=None, **_):
    stride, padding = tuple(stride), tuple(padding)
    if conv_direct.suits(x.shape, weight.shape, stride):  # a first layer: no columns at all
        y, saved = conv_direct.forward(x, weight, bias, padding=padding)
        return y, ("direct", saved)
    n, o = x.shape[0], weight.shape[0]
    plan = plan_for(x.shape, weight.shape, stride, padding, fold)
    xpad = windows.pad(x, padding, extra_rows=plan.extra_rows)
    planes = xpad.reshape(xpad.shape[0], xpad.shape[1], -1)
    wmat = weight_matrix(weight, x.dtype, plan)
    b = numpy.zeros(1, x.dtype) if bias is None else numpy.ascontiguousarray(bias, dtype=x.dtype)
    y = numpy.empty((n, o, plan.out_rows, plan.out_cols), dtype=x.dtype)
    for samples, rows in chunk_ranges(x.shape, x.dtype, plan, memory_budget):
        cols = _im2col(planes, samples, rows, weight.shape[2:], stride, plan, xpad.shape[3])
        k, nn, rr, wr = cols.shape
        prod = windows.workspace("prod", (plan.prod_rows, nn, rr, wr), x.dtype, x)
        numpy.matmul(wmat, cols.reshape(k, -1), out=prod.reshape(plan.prod_rows, -1))
        conv_passes.fold_out(prod, b, y, samples.start, rows.start, plan.folded_kernel_cols, bias is not None)
    return y, ("im2col", (xpad, x.shape, weight, bias is not None, stride, padding, plan))


def backward(dy, saved, *, input_grad=True, memory_budget=None, **_):
    path, saved = saved
    if path == "direct":
        return conv_direct.backward(dy, saved, input_grad=input_grad)
    xpad, x_shape, weight, has_bias, stride, (ph, pw), plan = saved
    dy = numpy.ascontiguousarray(dy)
    o, kernel = weight.shape[0], weight.shape[2:]
    h, w = x_shape[2:]
    folded = plan.folded_kernel_cols
    planes = xpad.reshape(xpad.shape[0], xpad.shape[1], -1)
    dxpad = numpy.zeros(xpad.shape, dtype=dy.dtype) if input_grad else None
    wmat = weight_matrix(weight, dy.dtype, plan)
    weight_t = numpy.ascontiguousarray(wmat.T) if input_grad else None  # C-ordered: faster BLAS (conv_folded)
    grad_first = plan.prod_rows >= plan.col_rows  # dW or its transpose: the taller one (conv_folded)
    dweight = numpy.zeros(wmat.shape if grad_first else wmat.shape[::-1], dtype=dy.dtype)
    dbias = numpy.zeros(o if has_bias else 0, dtype=numpy.float64)
    for samples, rows in chunk_ranges(x_shape, dy.dtype, plan, memory_budget):
        cols = _im2col(planes, samples, rows, kernel, stride, plan, xpad.shape[3])
        k, nn, rr, wr = cols.shape
        shifted = windows.workspace("grad", (folded, o, nn, rr, wr), dy.dtype, dy)
        conv_passes.shifted_grad(dy, shifted, dbias, samples.start, rows.start, has_bias)
        cols2, shifted2 = cols.reshape(k, -1), shifted.reshape(plan.prod_rows, -1)
        dweight += numpy.matmul(shifted2, cols2.T) if grad_first else numpy.matmul(cols2, shifted2.T)
        if input_grad:  # cols is spent: the column gradient overwrites it in the workspace
            numpy.matmul(weight_t, shifted2, out=cols2)
            conv_passes.col2im(cols, dxpad, samples.start, rows.start, kernel[0], plan.copied_kernel_cols, *stride)
    dweight = dweight if grad_first else dweight.T
    # dWf[(jf, o), (c, i, jc)] -> dW[o, c, i, j]: the inverse of weight_matrix
    dweight = dweight.reshape(folded, o, x_shape[1], kernel[0], plan.copied_kernel_cols)
    dweight = dweight.transpose(1, 2, 3, 4, 0).reshape(weight.shape)
    dx = dxpad[:, :, ph:ph + h, pw:pw + w] if input_grad else None
    return dx, dweight, (dbias.astype(dy.dtype) if has_bias else None)


compiled.register("conv2d", "numba_im2col", sys.modules[__name__])

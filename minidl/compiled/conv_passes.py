"""The memory passes of the im2col convolution as threaded numba kernels (used by ``conv_im2col``).

Notation as in ``minidl/fast_cpu/conv_folded.py``: a chunk holds ``nn`` samples
(from n0) and ``rows`` output rows (from r0); each output row has Wr computed
columns, the first Wo real; im2col copies kc kernel columns and the product
folds f of them (kc*f = kw). ``planes`` is the padded input xpad (N, C, Hp, Wp)
with each plane flattened to (N, C, Hp*Wp), so that with stride 1 a window row
may run on into the next image row (the junk columns).

* ``im2col``:  cols[(c, i, jc), n, r, s] = xpad[n0+n, c, (r0+r)*sh + i, s*sw + jc]
* ``fold_out``: y[n0+n, o, r0+r, s] = (Z[0, o] + Z[1, o] shifted + ...) + b[o], s < Wo,
  with Z[jf, o, n, r, s'] the product and "shifted" reading s' = s + jf
* ``shifted_grad``: Gs[jf, o, n, r, s] = dy[n0+n, o, r0+r, s - jf] where 0 <= s - jf < Wo,
  else 0; and db[o] += sum of dy[n0:n0+nn, o, r0:r0+rows, :]
* ``col2im``:  dxpad[n0+n, c, y, x] += cols[(c, i, jc), n, r, s] for y = (r0+r)*sh + i,
  x = s*sw + jc < Wp, added in (i, jc) order

Every output element is written by ONE thread, in a fixed order (col2im is a
gather per padded input row, not a scatter): the results are bit-identical on
every run and for every thread count. The order of the additions is the one of
the NumPy fast path (shifts added j = 1, 2, ... then the bias; col2im per kernel
offset in (i, jc) order), so outputs and input gradients match it bit for bit;
db sums in float64 (per channel, one element of a row at a time into a float64
row, then the row), so it is more accurate than, not equal to, NumPy's float32 sum.

Kernels here call no function of another file (numba's cache checks only this
file's source: ``jit``).
"""
import numpy

from minidl.compiled import jit


@jit.kernel
def im2col(planes, cols, n0, r0, kh, kc, sh, sw, wp):
    k, nn, rows, wr = cols.shape
    for task in jit.prange(k * nn):
        row, n = task // nn, task % nn
        c, i, jc = row // (kh * kc), (row // kc) % kh, row % kc
        plane = planes[n0 + n, c]
        for r in range(rows):
            start = ((r0 + r) * sh + i) * wp + jc
            out = cols[row, n, r]
            if sw == 1:  # one contiguous run of the image (vectorized copy)
                src = plane[start:start + wr]
                for s in range(wr):
                    out[s] = src[s]
            else:
                for s in range(wr):
                    out[s] = plane[start + s * sw]


@jit.kernel
def fold_out(prod, bias, y, n0, r0, folded, use_bias):
    fo, nn, rows, wr = prod.shape
    o_count, wo = fo // folded, y.shape[3]
    for task in jit.prange(nn * o_count):
        n, o = task // o_count, task % o_count
        for r in range(rows):
            out = y[n0 + n, o, r0 + r]
            first = prod[o, n, r]
            for s in range(wo):
                out[s] = first[s]
            for jf in range(1, folded):
                part = prod[jf * o_count + o, n, r]
                for s in range(wo):
                    out[s] += part[s + jf]
            if use_bias:
                b = bias[o]
                for s in range(wo):
                    out[s] += b


@jit.kernel
def shifted_grad(dy, gs, dbias, n0, r0, use_bias):
    folded, o_count, nn, rows, wr = gs.shape
    wo = dy.shape[3]
    for o in jit.prange(o_count):
        row_sum = numpy.zeros(wo, dtype=numpy.float64)
        for n in range(nn):
            for r in range(rows):
                src = dy[n0 + n, o, r0 + r]
                for jf in range(folded):
                    dst = gs[jf, o, n, r]
                    for s in range(jf):
                        dst[s] = 0
                    for s in range(wo):
                        dst[s + jf] = src[s]
                    for s in range(wo + jf, wr):
                        dst[s] = 0
                if use_bias:
                    for s in range(wo):
                        row_sum[s] += src[s]
        if use_bias:
            total = 0.0
            for s in range(wo):
                total += row_sum[s]
            dbias[o] += total


@jit.kernel
def col2im(cols, dplanes, n0, r0, kh, kc, sh, sw):
    k, nn, rows, wr = cols.shape
    c_count, hp, wp = k // (kh * kc), dplanes.shape[2], dplanes.shape[3]
    top = r0 * sh
    bottom = min(hp, (r0 + rows - 1) * sh + kh)
    height = bottom - top
    for task in jit.prange(nn * c_count * height):
        n, c, y = task // (c_count * height), (task // height) % c_count, top + task % height
        target = dplanes[n0 + n, c, y]
        for i in range(kh):
            if y - i < top or (y - i - top) % sh != 0:
                continue
            r = (y - i - top) // sh
            if r >= rows:
                continue
            for jc in range(kc):
                src = cols[(c * kh + i) * kc + jc, n, r]
                if sw == 1:
                    for s in range(min(wr, wp - jc)):
                        target[s + jc] += src[s]
                else:
                    for s in range(wr):
                        if s * sw + jc < wp:
                            target[s * sw + jc] += src[s]

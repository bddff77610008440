"""The geometry of one convolution on one input shape, named: ``ConvPlan``.

``conv_folded`` computes y (N, O, Ho, Wo) from x (N, C, H, W)
with one matrix product per chunk of output rows. Which product, and how big
its buffers are, depends on the layer and on the input shape; the plan names
every number the forward and backward passes need:

* ``out_rows``, ``out_cols``: Ho and Wo of the output;
* ``row_width``: Wr >= Wo, the columns computed per output row. With stride 1
  each output row runs on over the whole padded row (Wr = Wp), so the rows of
  the column matrix are long contiguous runs of the image; the last Wr - Wo
  columns of each row are junk (windows that wrap into the next image row),
  dropped from the output and given zero gradient (``windows.row_width``);
* ``copied_kernel_cols`` (kc): kernel columns im2col copies, kw on the plain
  path, 1 on the folded one;
* ``folded_kernel_cols`` (f): kernel columns folded into the rows of the
  weight matrix, 1 plain, kw folded; kc * f = kw;
* ``extra_rows``: zero rows padded below the image so the junk columns of the
  last output row (which read up to kc - 1 pixels further) stay inside it.

The column matrix has ``col_rows`` = C*kh*kc rows and the product
``prod_rows`` = f*O, both with Wr columns per output row.
"""
from dataclasses import dataclass

from minidl.fast_cpu import windows


@dataclass(frozen=True)
class ConvPlan:
    out_rows: int
    out_cols: int
    row_width: int
    copied_kernel_cols: int
    folded_kernel_cols: int
    col_rows: int
    prod_rows: int

    @classmethod
    def of(cls, x_shape, weight_shape, stride, padding, fold):
        """The plan of a convolution with weight (O, C, kh, kw) on input shape (N, C, H, W)."""
        kernel = tuple(weight_shape[2:])
        ho, wo = windows.output_size(x_shape, kernel, stride, padding)
        wr = windows.row_width(x_shape, kernel, stride, padding)
        kh, kw = kernel
        copied, folded = (1, kw) if fold else (kw, 1)
        return cls(out_rows=ho, out_cols=wo, row_width=wr, copied_kernel_cols=copied, folded_kernel_cols=folded,
                   col_rows=x_shape[1] * kh * copied, prod_rows=folded * weight_shape[0])

    @property
    def extra_rows(self):
        return int(self.row_width > self.out_cols and self.copied_kernel_cols > 1)

    def row_bytes(self, itemsize):
        """Bytes of the column matrix and the product under one output row of one sample."""
        return itemsize * self.row_width * (self.col_rows + self.prod_rows)

"""Per-channel sums in a fixed order: the reductions of the compiled batch norm.

A sum over a channel's M = N*L values, x viewed as (N, C, L), is taken in two
steps, both in float64 and in an order fixed by the shape alone:

    acc[j] = sum over n of x[n, c, j]         (n = 0, 1, ...: a vector add per row)
    total  = the L values of acc in 4 interleaved partial sums, added at the end

The first step adds whole rows element by element (independent lanes, so the
compiler vectorizes it without reassociating anything); the second breaks the
chain of dependent additions in four. Each channel is summed by one thread,
so the result does not depend on the thread count or on where the array lies
in memory: it is bit-identical on every run. acc takes L float64 per thread.
"""
import numpy

from minidl.compiled import jit


@jit.serial
def total(acc):
    """The sum of a float64 vector, in 4 interleaved partial sums added in a fixed order."""
    s0 = s1 = s2 = s3 = 0.0
    full = acc.size - acc.size % 4
    for j in range(0, full, 4):
        s0 += acc[j]
        s1 += acc[j + 1]
        s2 += acc[j + 2]
        s3 += acc[j + 3]
    for j in range(full, acc.size):
        s0 += acc[j]
    return (s0 + s1) + (s2 + s3)


@jit.serial
def channel_sum(x, channel):
    """sum of x[:, channel, :] (x (N, C, L))."""
    acc = numpy.zeros(x.shape[2])
    for i in range(x.shape[0]):
        row = x[i, channel]
        for j in range(row.size):
            acc[j] += row[j]
    return total(acc)


@jit.serial
def channel_squares(x, channel, centre):
    """sum of (x[:, channel, :] - centre)^2."""
    acc = numpy.zeros(x.shape[2])
    for i in range(x.shape[0]):
        row = x[i, channel]
        for j in range(row.size):
            d = row[j] - centre
            acc[j] += d * d
    return total(acc)


@jit.serial
def gradient_sums(g, x, channel, centre):
    """(sum of g, sum of g * (x - centre)) over channel ``channel`` of g and x (N, C, L)."""
    acc_g, acc_gx = numpy.zeros(x.shape[2]), numpy.zeros(x.shape[2])
    for i in range(x.shape[0]):
        g_row, x_row = g[i, channel], x[i, channel]
        for j in range(x_row.size):
            gj = numpy.float64(g_row[j])
            acc_g[j] += gj
            acc_gx[j] += gj * (x_row[j] - centre)
    return total(acc_g), total(acc_gx)

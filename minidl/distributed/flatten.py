"""Pack many small arrays into a few large flat ones for collective calls, and back.

Every collective call pays a fixed cost (microseconds between processes on
one machine, tens of microseconds over a network, plus a synchronisation of
all ranks) on top of its time per byte. A network has dozens of parameter
tensors, many tiny (biases, batch-norm scales), so one call per tensor would
pay that cost dozens of times per step. Instead arrays are copied into
*buckets*, flat 1-D arrays of up to ``bucket_bytes`` each, one call per bucket:

    arrays  a (3, 4) float32, b (4,) float32, c (2, 2) float64
    buckets [a.ravel() | b]  (16,) float32      [c.ravel()]  (4,) float64

A bucket holds one dtype (a collective has one element type) on one device.
An array larger than ``bucket_bytes`` gets a bucket of its own. The copies
cost far less than the calls they save: for the gradients of a network they
are one read and one write of its parameters per step.
"""
import math

from minidl import backend

BUCKET_BYTES = 25 * 2**20  # PyTorch's DistributedDataParallel uses 25 MB too


class Bucket:
    """Arrays ``indices`` of one dtype, laid end to end in ``flat`` (1-D)."""

    def __init__(self, indices, arrays):
        first = arrays[indices[0]]
        self.indices, self.dtype = indices, first.dtype
        self.shapes = [tuple(arrays[i].shape) for i in indices]
        self.sizes = [math.prod(s) for s in self.shapes]
        self.offsets = [sum(self.sizes[:i]) for i in range(len(self.sizes))]
        # Allocated where the arrays live: NumPy for host arrays, CuPy for device ones.
        self.flat = backend.get_array_module(first).empty(sum(self.sizes), dtype=first.dtype)

    def pack(self, arrays):
        """Copy ``arrays[i]`` for i in this bucket into ``flat``."""
        for i, offset, size in zip(self.indices, self.offsets, self.sizes):
            self.flat[offset:offset + size] = arrays[i].reshape(-1)
        return self.flat

    def unpack(self, arrays):
        """Copy ``flat`` back into ``arrays[i]`` in place (their identity is kept)."""
        for i, offset, size, shape in zip(self.indices, self.offsets, self.sizes, self.shapes):
            arrays[i][...] = self.flat[offset:offset + size].reshape(shape)


def layout_of(arrays):
    """What a bucket plan depends on: each array's shape, dtype and device."""
    return tuple((tuple(a.shape), str(a.dtype), backend.is_device_array(a)) for a in arrays)


def plan_buckets(arrays, bucket_bytes=BUCKET_BYTES):
    """Buckets for ``arrays``: same dtype and device together, in order, <= ``bucket_bytes``."""
    if bucket_bytes <= 0:
        raise ValueError(f"bucket_bytes must be positive, got {bucket_bytes}")
    groups = {}
    for i, (shape, dtype, on_device) in enumerate(layout_of(arrays)):
        groups.setdefault((dtype, on_device), []).append(i)
    buckets = []
    for (dtype, on_device), indices in groups.items():
        current, current_bytes = [], 0
        for i in indices:
            nbytes = arrays[i].nbytes
            if current and current_bytes + nbytes > bucket_bytes:
                buckets.append(current)
                current, current_bytes = [], 0
            current.append(i)
            current_bytes += nbytes
        buckets.append(current)
    return [Bucket(b, arrays) for b in buckets]

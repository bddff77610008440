"""``DevicePrefetcher``: batches on the GPU, each copied while the previous one trains.

A training loop on the GPU spends part of every step waiting for the next
batch to cross PCIe. With CuPy, this iterator hides that wait::

    for x, y in md.DevicePrefetcher(loader):     # (x, y) NumPy batches in, device arrays out
        loss = criterion(model(x), y)
        ...

Before yielding batch k it starts the copy of batch k+1: the batch is first
copied into page-locked ("pinned") host memory, which the GPU's copy engine
reads directly, then sent with an asynchronous copy on a second CUDA stream,
so it proceeds while the compute stream runs step k. The compute stream waits
for that copy (an event, not a host wait) only when batch k+1 is used.

Two pinned buffers per array alternate: the host fills one while the other's
copy may still be in flight (it waits for that copy's event before reusing a
buffer). The copy itself also waits for the work queued on the compute stream
when it is issued, so device memory freed by the previous step is never
overwritten while a kernel still reads it.

On the CPU, or without CuPy, it simply moves each array with ``to_device``.
Items of a batch that are not NumPy arrays (ids, paths) pass through.
However the loop ends, early included, the iterator waits for its copies
before it lets go of their memory.
"""
import numpy

from minidl import backend


class DevicePrefetcher:
    """Iterate ``batches`` (tuples of host arrays) as tuples on ``device`` (default: the current one)."""

    def __init__(self, batches, device=None):
        self.batches = batches
        self.device = device

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        device = self.device or backend.device()
        if device == "cpu" or backend.cupy is None:
            for batch in self.batches:
                yield tuple(backend.to_device(a, device) if hasattr(a, "shape") else a for a in batch)
            return
        copier = _AsyncCopier(backend.cupy)
        pending = None
        try:
            for batch in self.batches:
                started = copier.start(batch)
                if pending is not None:
                    yield copier.finish(pending)
                pending = started
            if pending is not None:
                yield copier.finish(pending)
        finally:
            # A loop left early (break, an exception, the NaN stop, Ctrl-C) drops the next
            # batch, whose copy may still be in flight: its device memory goes back to the
            # pool, where the compute stream could reuse it while the copy still writes.
            # Waiting for the copy stream closes that window (and frees the pinned buffers safely).
            copier.stream.synchronize()


class _AsyncCopier:
    """Pinned staging buffers and the copy stream of one iteration."""

    def __init__(self, cupy):
        self.cupy = cupy
        self.stream = cupy.cuda.Stream(non_blocking=True)
        self.buffers = {}  # (item index, slot) -> (pinned memory, its size in bytes, its last copy's event)
        self.slot = 0

    def _pinned(self, index, host):
        key = (index, self.slot)
        memory, capacity, event = self.buffers.get(key, (None, 0, None))
        if event is not None:
            event.synchronize()  # the copy that last read this buffer is done
        if memory is None or capacity < host.nbytes:
            capacity = max(host.nbytes, 1)
            memory = self.cupy.cuda.alloc_pinned_memory(capacity)
        view = _host_view(memory, host)
        view[...] = host
        return key, (memory, capacity), view

    def start(self, batch):
        """Issue the copies of ``batch``; returns what ``finish`` needs."""
        cupy = self.cupy
        self.stream.wait_event(cupy.cuda.get_current_stream().record())
        items, keys = [], []
        for index, host in enumerate(batch):
            if not (hasattr(host, "shape") and not backend.is_device_array(host)):
                items.append(host)
                continue
            key, pinned, view = self._pinned(index, host)
            device = cupy.empty(host.shape, dtype=host.dtype)
            device.set(view, stream=self.stream)
            items.append(device)
            keys.append((key, pinned))
        event = self.stream.record()
        for key, pinned in keys:
            self.buffers[key] = (*pinned, event)
        self.slot = 1 - self.slot
        return items, event

    def finish(self, started):
        """The batch, once the compute stream has been told to wait for its copies."""
        items, event = started
        self.cupy.cuda.get_current_stream().wait_event(event)
        return tuple(items)


def _host_view(memory, like):
    """A NumPy array over ``memory`` with ``like``'s shape and dtype."""
    return numpy.frombuffer(memory, dtype=like.dtype, count=like.size).reshape(like.shape)

"""DevicePrefetcher: batches arrive on the device intact, in order, through two reused
pinned buffers per array; on the CPU it only moves arrays (the stream overlap itself
needs a real GPU: tests/gpu runs training through CuPy)."""
import numpy as np

import minidl as md
from minidl.testing.fake_cupy import FakeDeviceArray


def _batches(n=5):
    rng = np.random.default_rng(0)
    return [(rng.standard_normal((3, 4)).astype(np.float32), np.arange(3) + 10 * k, f"ids-{k}")
            for k in range(n)]


def test_batches_reach_the_device_in_order_and_intact(fake_device, monkeypatch):
    allocations = []
    cuda = fake_device.cuda
    monkeypatch.setattr(cuda, "alloc_pinned_memory", lambda n: allocations.append(n) or bytearray(n))
    batches = _batches()
    seen = list(md.DevicePrefetcher(batches))
    assert len(seen) == len(batches)
    for (x, y, ids), (dx, dy, dids) in zip(batches, seen):
        assert isinstance(dx, FakeDeviceArray) and isinstance(dy, FakeDeviceArray) and dids == ids
        np.testing.assert_array_equal(dx.get(), x)
        np.testing.assert_array_equal(dy.get(), y)
    assert len(allocations) == 4  # two alternating pinned buffers for each of the two arrays


def test_on_the_cpu_arrays_stay_numpy():
    batches = _batches(2)
    seen = list(md.DevicePrefetcher(batches, device="cpu"))
    assert type(seen[0][0]) is np.ndarray and seen[1][2] == "ids-1"
    assert len(md.DevicePrefetcher(batches)) == 2
    assert list(md.DevicePrefetcher([])) == []


class _CountingStream:
    """A copy stream that counts the host's waits on it."""
    instances = []

    def __init__(self, **kwargs):
        self.synchronized = 0
        _CountingStream.instances.append(self)

    def record(self, event=None):
        return object()

    def wait_event(self, event):
        pass

    def synchronize(self):
        self.synchronized += 1


def test_leaving_the_loop_early_waits_for_the_copy_in_flight(fake_device, monkeypatch):
    """break, an exception or Ctrl-C in the training loop abandons the next batch while
    its copy may still run on the copy stream: the iterator must wait for it before its
    memory can return to the pool."""
    monkeypatch.setattr(fake_device.cuda, "Stream", _CountingStream)
    _CountingStream.instances.clear()
    for _ in md.DevicePrefetcher(_batches()):
        break
    (stream,) = _CountingStream.instances
    assert stream.synchronized == 1

    _CountingStream.instances.clear()
    try:
        for _ in md.DevicePrefetcher(_batches()):
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    (stream,) = _CountingStream.instances
    assert stream.synchronized == 1

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

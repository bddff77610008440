"""Philox4x32-10, the device's dropout generator: the published test vectors, the
kernel against its NumPy twin, and what dropout needs of it (fresh masks per draw,
the same masks after a checkpoint restore)."""
import numpy as np
import pytest

import minidl as md
from minidl.kernels import twins
from minidl.kernels.launch import launch

# Known-answer vectors of the Random123 library that introduced Philox: (counter, key, output).
KNOWN_ANSWERS = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("counter, key, expected", KNOWN_ANSWERS)
def test_the_numpy_twin_gives_the_published_philox_vectors(counter, key, expected):
    words = twins.philox4x32_10([np.array([c], dtype=np.uint64) for c in counter], key)
    assert tuple(int(w) for w in words[:, 0]) == expected


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [1, 3, 4, 5, 1001])
def test_the_kernel_writes_the_twins_uniforms_exactly(dtype, size):
    out = np.full(size, -1.0, dtype=dtype)
    launch("philox_uniform", -(-size // (4 if dtype == np.float32 else 2)), out, size, 2 ** 40 + 9, 3)
    np.testing.assert_array_equal(out, twins.philox_uniform(size, 2 ** 40 + 9, 3, dtype))
    assert out.min() >= 0 and out.max() < 1


def test_uniforms_look_uniform_and_streams_differ():
    a = twins.philox_uniform(200_000, 5, 0, np.float64)
    b = twins.philox_uniform(200_000, 5, 1, np.float64)
    assert abs(a.mean() - 0.5) < 0.005 and abs(a.var() - 1 / 12) < 0.002
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.01
    counts = np.histogram(a, bins=10, range=(0, 1))[0]
    assert counts.min() > 0.95 * 20_000 and counts.max() < 1.05 * 20_000


def test_device_dropout_masks_are_fresh_per_draw_and_restored_by_the_rng_state(fake_device):
    md.manual_seed(11)
    x = md.to_device(np.ones((64, 50), dtype=np.float32), "gpu")
    drop = md.Dropout(0.3)
    first = md.to_numpy(drop(x))
    state = md.rng.get_state()
    second = md.to_numpy(drop(x))
    assert abs((first == 0).mean() - 0.3) < 0.03
    assert not np.array_equal(first, second)
    md.rng.set_state(state)
    np.testing.assert_array_equal(md.to_numpy(drop(x)), second)
    md.manual_seed(11)
    np.testing.assert_array_equal(md.to_numpy(drop(x)), first)
    expected = twins.philox_uniform(x.size, 11, 0, np.float32).reshape(x.shape) >= 0.3
    np.testing.assert_array_equal(first != 0, expected)  # draw 0 of seed 11 is Philox(key 11, stream 0)


def test_the_shared_philox_rounds_are_written_into_each_source_that_includes_them():
    """NVRTC gets no include path: the loaders compile catalog.source_code's expanded text."""
    from minidl.kernels import catalog
    header = (catalog.FOLDER / "philox_rounds.cuh").read_text()
    for name in ("philox.cu", "image_augment.cu"):
        code = catalog.source_code(catalog.FOLDER / name)
        assert '#include "philox_rounds.cuh"' not in code
        assert header in code and code.count("void philox4x32_10(") == 1


def test_the_shim_rebuilds_a_kernel_when_its_shared_header_changes(monkeypatch):
    from minidl.kernels import catalog, cpu_shim
    source = catalog.FOLDER / "philox.cu"
    before = cpu_shim.library_name(source, "float32")
    expanded = catalog.source_code(source)
    monkeypatch.setattr(catalog, "source_code", lambda s: expanded.replace("0x9E3779B9u", "0x9E3779B8u"))
    assert cpu_shim.library_name(source, "float32") != before

"""Every kernel, compiled with g++ through cpu_shim.h and run serially, against its NumPy twin.

Cases (minidl/kernels/twins.py) cover odd sizes, stride 2 with padding, batch 1,
overlapping pooling windows and every weighting of the loss; each runs with the
default launch and with 32-thread blocks capped at 3 blocks, where the last
block is partial and every grid-stride loop goes round several times.
"""
import numpy as np
import pytest

from minidl.kernels import launch, twins

CASES = [pytest.param(family, case, id=f"{family}-{name}")
         for family, (_, _, cases) in twins.CHECKS.items() for name, case in cases]
GRIDS = [pytest.param(None, id="default-grid"), pytest.param((32, 3), id="partial-grid")]


@pytest.mark.parametrize("grid", GRIDS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("family, case", CASES)
def test_kernel_matches_numpy(family, case, dtype, grid):
    _, check, _ = twins.CHECKS[family]
    with launch.configured(*(grid or (launch.BLOCK, launch.MAX_BLOCKS))):
        error = check(twins.Target.host(), case, np.dtype(dtype).type, np.random.default_rng(1))
    assert error <= twins.TOLERANCE[dtype], f"{family} {dtype}: max relative error {error:.3g}"


def test_partial_last_block_is_really_partial():
    # 1001 elements in 32-thread blocks: 32 blocks would be needed, 3 run (grid stride),
    # and with 96-thread blocks the 11th block has 41 live threads of 96.
    assert launch.grid_size(1001, 32, 3) == 3
    assert launch.grid_size(1001, 96, 1 << 16) == 11 and 1001 - 10 * 96 == 41
    x = np.random.default_rng(0).standard_normal(1001)
    y, mask = np.full_like(x, np.nan), np.zeros(x.shape, bool)
    with launch.configured(96):
        launch.launch("relu_forward", x.size, x, y, mask, x.size)
    np.testing.assert_array_equal(y, np.maximum(x, 0))  # no element left NaN: all written


def test_launch_refuses_wrong_dtype_non_contiguous_and_wrong_arity():
    x = np.zeros((4, 6))
    with pytest.raises(launch.KernelArgumentError, match="mask must be a C-contiguous bool"):
        launch.launch("relu_forward", x.size, x, np.empty_like(x), np.zeros(x.shape), x.size)
    with pytest.raises(launch.KernelArgumentError, match="C-contiguous"):
        launch.launch("relu_forward", 12, x[:, ::2], np.empty((4, 3)), np.zeros((4, 3), bool), 12)
    with pytest.raises(launch.KernelArgumentError, match="takes 4 arguments"):
        launch.launch("relu_forward", x.size, x)
    with pytest.raises(KeyError, match="no kernel named"):
        launch.launch("conv_magic", 1)


def test_cli_runs_every_kernel_on_the_cpu(capsys):
    from minidl.kernels.__main__ import main
    assert main(["--run-on-cpu"]) == 0
    out = capsys.readouterr().out
    for name in ("im2col", "col2im", "maxpool_forward", "maxpool_backward", "adam_update",
                 "bce_with_logits", "batchnorm_apply", "batchnorm_input_grad", "relu_forward", "relu_backward",
                 "philox_uniform", "plane_partial_sums", "plane_affine", "augment_images",
                 "batchnorm_relu_apply", "maxpool_batchnorm_input_grad", "bias_relu",
                 "adam_update_many", "bias_selu", "selu_backward"):
        assert name in out
    assert "FAIL" not in out


def test_cli_lists_every_kernel(capsys):
    from minidl.kernels import catalog
    from minidl.kernels.__main__ import main
    assert main([]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(catalog.all_kernels()) >= 20
    assert {line.split()[0] for line in lines} >= {"plane_partial_sums", "plane_affine", "augment_images", "adam_update_many", "bias_relu"}


def test_shim_errors_name_the_missing_compiler_and_the_failing_source(tmp_path, monkeypatch):
    from minidl.kernels import catalog, cpu_shim
    monkeypatch.setenv("MINIDL_KERNEL_CACHE", str(tmp_path / "cache"))  # nothing cached: every call builds
    source = next(iter(catalog.sources()))
    monkeypatch.setattr(cpu_shim, "COMPILER", "no-such-compiler")
    with pytest.raises(cpu_shim.ShimError, match="needs a C\\+\\+ compiler: no-such-compiler not found"):
        cpu_shim.library_path(source, "float32")
    monkeypatch.setattr(cpu_shim, "COMPILER", "g++")
    broken = tmp_path / "broken.cu"  # not beside the shim header: the build cannot include it
    broken.write_text(source.read_text())
    with pytest.raises(cpu_shim.ShimError, match="g\\+\\+ failed on broken.cu \\(float32\\)"):
        cpu_shim.library_path(broken, "float32")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kernel, stride, padding", [(3, 1, 1), (3, 2, 1), (5, 2, 2)])
def test_maxpool_backward_adds_overlapping_shares_in_the_hosts_order(dtype, kernel, stride, padding):
    """Where windows overlap, a pixel that wins several windows receives a sum; the kernel
    gathers it in the host loop's order (so float rounding is the same: equal bits, not just
    close) and without atomics (so it is the same on every GPU run, as exact resume needs)."""
    import minidl as md
    from minidl.kernels import device_layers
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 11, 10)).astype(dtype)
    x[:, :, 4:7:2, 3:8:4] = 10.0 + rng.random((2, 3, 2, 2))  # a few pixels win every window around them
    from minidl.ops import registry
    (host,) = [i.impl for i in registry.get("max_pool2d").candidates("cpu") if i.name == "chunked_windows"]
    layer = md.MaxPool2d(kernel, stride, padding)
    y = layer.run_forward(x, impl=host)[0]
    dy = (rng.standard_normal(y.shape) * 10.0 ** rng.integers(-3, 4, y.shape)).astype(dtype)
    expected = layer.backward(dy)
    layer.run_forward(x, impl=device_layers.MAX_POOL2D)
    np.testing.assert_array_equal(layer.backward(dy), expected)


def test_launch_range_checks_integer_arguments_the_same_for_shim_and_gpu():
    """An int parameter given 2^31 would wrap to a negative size in the shim and raise in
    CuPy: launch() refuses it first, for both, as it refuses a non-integer."""
    x = np.zeros(6)
    y, mask = np.empty_like(x), np.zeros(x.shape, bool)
    with pytest.raises(launch.KernelArgumentError, match="does not fit the kernel's long long"):
        launch.launch("relu_forward", 6, x, y, mask, 2 ** 63)
    cols = np.empty((9, 4))
    with pytest.raises(launch.KernelArgumentError, match=r"n_samples = 2147483648 does not fit the kernel's int"):
        launch.launch("im2col", 4, np.zeros((1, 1, 2, 2)), cols, 2 ** 31, 1, 2, 2, 3, 3, 1, 1, 1, 1, 2, 2)
    with pytest.raises(launch.KernelArgumentError, match="size must be an integer, got 6.0"):
        launch.launch("relu_forward", 6, x, y, mask, 6.0)
    launch.launch("relu_forward", 6, x, y, mask, np.int64(6))  # NumPy integers are fine


def test_im2col_launches_one_thread_per_channel_and_column(monkeypatch):
    """Each im2col thread writes one (channel, column)'s kh*kw entries: a grid sized for
    every entry would start kh*kw times too many threads, all of which find no work."""
    from minidl.kernels import cpu_shim, device_layers
    grids = []
    real_launch = cpu_shim.launch
    monkeypatch.setattr(cpu_shim, "launch", lambda name, grid, *rest: grids.append((name, grid))
                        or real_launch(name, grid, *rest))
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 16))
    geometry = (3, 3, 1, 1, 1, 1, 16, 16)
    cols = device_layers.im2col(x, geometry)
    assert cols.shape == (27, 512)
    assert grids == [("im2col", launch.grid_size(3 * 512, launch.BLOCK, launch.MAX_BLOCKS))]  # 6 blocks, not 54

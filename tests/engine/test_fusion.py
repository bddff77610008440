"""Layer fusion (minidl.layers.fused): the runs it finds in both HPA networks, a model that
stays the same model (names, state_dict keys), and on the fake CUDA device the fused kernels
giving what the layers give one by one, in training and eval, running statistics included."""
import copy

import numpy as np
import pytest

import minidl as md
from hpa.models.gapnet import GapNet
from hpa.models.parallel_lenet import ParallelLeNet
from minidl.layers import BatchNorm2d, Conv2d, Linear, MaxPool2d, ReLU, Sequential
from minidl.layers.fused import FusedChain, fuse, unfuse

# About the kernels themselves: CI's switches must not turn them off.
pytestmark = pytest.mark.usefixtures("kernels_on")


def _lenet():
    md.manual_seed(0)
    return ParallelLeNet(image_size=16, conv_channels=(2, 3), branch_features=4, hidden=(5,), dropout=0.0)


def _gapnet(variant="bn"):
    md.manual_seed(0)
    return GapNet(image_size=32, widths=(2, 3, 4), convs=(1, 2, 2), hidden=5, dropout=0.0, variant=variant)


def _gapnet_pl():
    return _gapnet("pl")


def test_fuse_finds_the_runs_of_both_networks():
    ops = [chain.op for chain in fuse(_lenet())]
    assert ops == ["max_pool2d_batch_norm_relu"] * 6  # two per branch, three branches
    ops = [chain.op for chain in fuse(_gapnet())]
    assert ops == ["conv2d_relu"] * 3  # block 2's first conv, block 3's two; pooled units stay as they are
    pl = GapNet(image_size=32, widths=(2, 3, 4), convs=(1, 2, 2), hidden=5, variant="pl")
    assert [chain.op for chain in fuse(pl)] == ["conv2d_selu"] * 3


def test_plan_matches_exact_runs_only():
    layers = [Conv2d(2, 3, 3), BatchNorm2d(3), ReLU(), MaxPool2d(2), ReLU(), BatchNorm2d(3), Linear(3, 3), ReLU()]
    steps = [s.op if isinstance(s, FusedChain) else type(s).__name__ for s in fuse(Sequential(*layers))]
    assert steps == ["batch_norm_relu"]
    steps = Sequential(*layers).steps()
    assert len(steps) == len(layers)


def test_the_model_is_unchanged_by_fusion():
    model, plain = _lenet(), _lenet()
    fuse(model)
    assert list(model.state_dict()) == list(plain.state_dict())
    assert [n for n, _ in model.named_modules()] == [n for n, _ in plain.named_modules()]
    unfuse(model)
    assert all(len(s.steps()) == len(s) for s in model.modules() if isinstance(s, Sequential))


def _step(model, x, dy):
    y = model(x)
    model.zero_grad()
    model.backward(dy)
    return y


def _compare(fused, plain, x, dy, rtol):
    for _ in range(2):  # the second step sees running statistics moved once
        y_f, y_p = _step(fused, x, dy), _step(plain, x, dy)
        np.testing.assert_allclose(md.to_numpy(y_f), md.to_numpy(y_p), rtol=rtol, atol=rtol)
    for (name, p), q in zip(fused.named_parameters(), plain.parameters()):
        np.testing.assert_allclose(md.to_numpy(p.grad), md.to_numpy(q.grad), rtol=rtol, atol=rtol, err_msg=name)
    for (name, a), (_, b) in zip(fused.state_dict().items(), plain.state_dict().items()):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol, err_msg=name)
    fused.eval(), plain.eval()
    with md.no_grad():
        np.testing.assert_allclose(md.to_numpy(fused(x)), md.to_numpy(plain(x)), rtol=rtol, atol=rtol)


@pytest.mark.parametrize("build", [_lenet, _gapnet, _gapnet_pl], ids=["parallel_lenet", "gapnet", "gapnet_pl"])
def test_fused_kernels_match_the_layers_on_the_fake_device(fake_device, build):
    plain = build().astype("float64").to("gpu")
    fused = copy.deepcopy(plain)
    chains = fuse(fused)
    rng = np.random.default_rng(0)
    x = md.to_device(rng.standard_normal((3, 4) + (plain.expected_input[1],) * 2))
    dy = md.to_device(rng.standard_normal((3, 28)))
    _compare(fused, plain, x, dy, rtol=1e-9)
    assert all(chain.ran_fused for chain in chains)  # the fused ops ran, not the layers


def test_on_host_arrays_the_layers_run_as_unfused():
    plain = _lenet()
    fused = copy.deepcopy(plain)
    chains = fuse(fused)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 16, 16)).astype(np.float32)
    dy = rng.standard_normal((2, 28)).astype(np.float32)
    _compare(fused, plain, x, dy, rtol=0)  # the very same computation
    assert not any(chain.ran_fused for chain in chains)


def test_a_layer_replaced_on_the_instance_runs_unfused(fake_device):
    model = Sequential(Conv2d(2, 3, 3, padding=1), ReLU()).to("gpu")
    (chain,) = fuse(model)
    seen = []
    relu = model[1]
    relu.forward = lambda x: seen.append(x.shape) or ReLU.forward(relu, x)
    model(md.to_device(np.ones((1, 2, 4, 4), np.float32)))
    assert seen == [(1, 3, 4, 4)] and not chain.ran_fused


def test_shape_errors_are_the_first_layers(fake_device):
    model = Sequential(Conv2d(2, 3, 3), ReLU()).to("gpu")
    fuse(model)
    with pytest.raises(ValueError, match=r"x must have shape \(N, 2, H, W\)"):
        model(md.to_device(np.ones((1, 5, 4, 4), np.float32)))


def test_an_input_on_another_device_than_the_weights_is_the_plain_error(fake_device):
    model = Sequential(Conv2d(2, 3, 3), ReLU()).to("cpu")  # weights on the host
    fuse(model)
    x = md.to_device(np.ones((1, 2, 4, 4), np.float32))
    with pytest.raises(Exception) as fused_error:
        model(x)
    with pytest.raises(Exception) as layer_error:
        model[0](x)
    assert type(fused_error.value) is type(layer_error.value) and str(fused_error.value) == str(layer_error.value)

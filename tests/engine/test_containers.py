"""Containers: naming, forward wiring against hand-wired references, gradient checks, PyTorch parity."""
import numpy as np
import pytest

from minidl.gradcheck import check_module
from minidl.layers.activations import ReLU, Sigmoid
from minidl.layers.batchnorm import BatchNorm2d
from minidl.layers.containers import (Concat, DenseBlock, DenseLayer, GapTaps, ModuleList, Residual,
                                      Sequential)
from minidl.layers.conv import Conv2d
from minidl.layers.linear import Linear
from minidl.layers.shape import ChannelSelect


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _copy_into(ours, ref):
    """Load a torch module's weights into ours (float64) by matching names."""
    ours.astype(np.float64).load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})


def _torch_parity(ours, ref, x, torch):
    """Forward, input gradient and every parameter gradient agree with torch."""
    ref.zero_grad()
    xt = torch.tensor(x, requires_grad=True)
    yt = ref(xt)
    dy = _x(tuple(yt.shape), 99)
    yt.backward(torch.tensor(dy))
    ours.zero_grad()
    np.testing.assert_allclose(ours(x), yt.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.backward(dy), xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    grads = {name: p.grad for name, p in ref.named_parameters()}
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, grads[name].numpy(), rtol=1e-9, atol=1e-12, err_msg=name)


# --- Sequential and ModuleList -------------------------------------------------------------

def test_sequential_names_indexes_and_appends():
    a, b, c = Linear(3, 4), Sigmoid(), Linear(4, 2, bias=False)
    seq = Sequential(a, b)
    assert seq.append(c) is seq
    assert len(seq) == 3 and seq[0] is a and seq[-1] is c and list(seq) == [a, b, c]
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight"]
    head = seq[1:]
    assert isinstance(head, Sequential) and list(head) == [b, c]
    assert [n for n, _ in ModuleList([a, c]).named_parameters()] == ["0.weight", "0.bias", "1.weight"]
    with pytest.raises(ValueError, match=r"modules\[1\] must be a Module"):
        Sequential(a, "relu")


def test_sequential_chains_forward_and_gradcheck():
    seq = Sequential(Linear(7, 5, bias=False), Sigmoid(), Linear(5, 3, bias=False)).astype(np.float64)
    x = _x((2, 7))
    np.testing.assert_allclose(seq(x), seq[2](seq[1](seq[0](x))), rtol=1e-15)
    check_module(seq, x[:1], tol=1e-6)


# --- Concat -----------------------------------------------------------------------------

def test_concat_names_branches_and_concatenates_on_axis_1():
    left, right = Linear(5, 2), Linear(5, 3)
    cat = Concat(left, right).astype(np.float64)
    assert [n for n, _ in cat.named_parameters()] == ["branches.0.weight", "branches.0.bias",
                                                      "branches.1.weight", "branches.1.bias"]
    x = _x((4, 5))
    np.testing.assert_array_equal(cat(x), np.concatenate([left(x), right(x)], axis=1))


def test_concat_gradcheck_features_and_channels():
    check_module(Concat(Linear(7, 3, bias=False), Linear(7, 5, bias=False)), _x((1, 7)), tol=1e-6)
    branches = Concat(Sequential(ChannelSelect((0, 1)), Conv2d(2, 3, 3, padding=1, bias=False)),
                      Sequential(ChannelSelect((2,)), Conv2d(1, 2, 1, bias=False)),
                      Conv2d(3, 1, 3, bias=False, padding=1))
    check_module(branches, _x((1, 3, 5, 3)), tol=1e-6)


def test_concat_rejects_mismatched_outputs():
    with pytest.raises(ValueError, match="cannot be concatenated"):
        Concat(Conv2d(1, 2, 3), Conv2d(1, 2, 1))(np.ones((1, 1, 5, 5)))
    with pytest.raises(ValueError, match="branches must not be empty"):
        Concat()


def test_concat_matches_torch():
    torch = pytest.importorskip("torch")

    class TorchConcat(torch.nn.Module):
        def __init__(self, *branches):
            super().__init__()
            self.branches = torch.nn.ModuleList(branches)

        def forward(self, x):
            return torch.cat([b(x) for b in self.branches], dim=1)

    ref = TorchConcat(torch.nn.Linear(6, 2), torch.nn.Linear(6, 4)).double()
    ours = Concat(Linear(6, 2), Linear(6, 4))
    _copy_into(ours, ref)
    _torch_parity(ours, ref, _x((3, 6)), torch)


# --- Residual -----------------------------------------------------------------------------

def test_residual_adds_identity_or_projection():
    body = Linear(4, 4).astype(np.float64)
    x = _x((2, 4))
    np.testing.assert_allclose(Residual(body)(x), body(x) + x, rtol=1e-15)
    proj = Linear(4, 3, bias=False).astype(np.float64)
    narrow = Linear(4, 3).astype(np.float64)
    np.testing.assert_allclose(Residual(narrow, proj)(x), narrow(x) + proj(x), rtol=1e-15)
    with pytest.raises(ValueError, match="pass a projection"):
        Residual(narrow)(x)
    with pytest.raises(ValueError, match="projection must be a Module"):
        Residual(body, projection=lambda v: v)


@pytest.mark.parametrize("projection", [False, True])
def test_residual_gradcheck(projection):
    body = Sequential(Conv2d(3, 3, 3, padding=1, bias=False), Sigmoid(), Conv2d(3, 3, 1, bias=False))
    proj = Conv2d(3, 3, 1, bias=False) if projection else None
    check_module(Residual(body, proj), _x((1, 3, 5, 3)), tol=1e-6)


def test_residual_matches_torch():
    torch = pytest.importorskip("torch")

    class TorchResidual(torch.nn.Module):
        def __init__(self, body, projection):
            super().__init__()
            self.body, self.projection = body, projection

        def forward(self, x):
            return self.body(x) + self.projection(x)

    ref = TorchResidual(torch.nn.Conv2d(2, 3, 3, padding=1), torch.nn.Conv2d(2, 3, 1, bias=False)).double()
    ours = Residual(Conv2d(2, 3, 3, padding=1), Conv2d(2, 3, 1, bias=False))
    _copy_into(ours, ref)
    _torch_parity(ours, ref, _x((2, 2, 5, 4)), torch)


# --- GapTaps -----------------------------------------------------------------------------

def _stages():
    return [Sequential(Conv2d(3, 2, 3, padding=1, bias=False), Sigmoid()),
            Sequential(Conv2d(2, 3, 3, stride=2, bias=False), Sigmoid()),
            Sequential(Conv2d(3, 2, 1, bias=False), Sigmoid())]


def test_gap_taps_concatenates_pooled_stage_outputs():
    stages = _stages()
    x = _x((2, 3, 7, 5))
    h1 = stages[0].astype(np.float64)(x)
    h2 = stages[1].astype(np.float64)(h1)
    h3 = stages[2].astype(np.float64)(h2)
    gap = [h.mean(axis=(2, 3)) for h in (h1, h2, h3)]
    taps = GapTaps(stages)
    assert [n for n, _ in taps.named_parameters()] == ["stages.0.0.weight", "stages.1.0.weight",
                                                       "stages.2.0.weight"]
    np.testing.assert_allclose(taps(x), np.concatenate(gap, axis=1), rtol=1e-12)
    np.testing.assert_allclose(GapTaps(stages, taps=[2, 0])(x), np.concatenate([gap[0], gap[2]], axis=1),
                               rtol=1e-12)


@pytest.mark.parametrize("taps, dropout, training", [(None, 0.0, True), ((1, 2), 0.5, True),
                                                     ((0, 2), 0.5, False)])
def test_gap_taps_gradcheck(taps, dropout, training):
    layer = GapTaps(_stages(), dropout=dropout, taps=taps).train(training)
    check_module(layer, _x((1, 3, 5, 3), 1), tol=1e-6)


def test_gap_taps_rejects_bad_taps():
    with pytest.raises(ValueError, match="must include the last stage 2"):
        GapTaps(_stages(), taps=[0, 1])
    with pytest.raises(ValueError, match=r"stage indices in \[0, 3\)"):
        GapTaps(_stages(), taps=[3])
    with pytest.raises(ValueError, match="stages must not be empty"):
        GapTaps([])
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        GapTaps(_stages(), dropout=1.0)


def test_gap_taps_matches_torch():
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class TorchGapTaps(nn.Module):
        def __init__(self, stages):
            super().__init__()
            self.stages = nn.ModuleList(stages)

        def forward(self, x):
            pooled = []
            for stage in self.stages:
                x = stage(x)
                pooled.append(x.mean(dim=(2, 3)))
            return torch.cat(pooled, dim=1)

    ref = TorchGapTaps([nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU()),
                        nn.Sequential(nn.Conv2d(4, 5, 3, stride=2), nn.BatchNorm2d(5), nn.ReLU())]).double()
    ours = GapTaps([Sequential(Conv2d(3, 4, 3, padding=1), ReLU()),
                    Sequential(Conv2d(4, 5, 3, stride=2), BatchNorm2d(5), ReLU())])
    _copy_into(ours, ref)
    _torch_parity(ours, ref, _x((2, 3, 9, 8)), torch)


# --- DenseBlock ----------------------------------------------------------------------------

def test_dense_block_appends_each_layers_output_to_its_input():
    block = DenseBlock(3, 2, 3, bn_size=2).astype(np.float64)
    x = _x((2, 2, 5, 4))
    features = x
    for i in range(3):
        features = np.concatenate([features, getattr(block, f"denselayer{i + 1}")(features)], axis=1)
    np.testing.assert_allclose(block(x), features, rtol=1e-12)
    assert block(x).shape == (2, 2 + 3 * 3, 5, 4)
    names = [n for n, _ in block.named_parameters()]
    assert names[:6] == ["denselayer1.norm1.weight", "denselayer1.norm1.bias", "denselayer1.conv1.weight",
                         "denselayer1.norm2.weight", "denselayer1.norm2.bias", "denselayer1.conv2.weight"]
    no_bottleneck = DenseBlock(2, 2, 3, bn_size=None)
    assert [n for n, _ in no_bottleneck.denselayer2.named_parameters()] == ["norm1.weight", "norm1.bias",
                                                                            "conv1.weight"]
    assert no_bottleneck.denselayer2.conv1.kernel_size == (3, 3)


@pytest.mark.parametrize("bn_size, training", [(2, True), (2, False), (None, True)])
def test_dense_block_gradcheck(bn_size, training):
    block = DenseBlock(2, 3, 2, bn_size=bn_size).train(training)
    rng = np.random.default_rng(3)
    for _, module in block.named_modules():
        if isinstance(module, BatchNorm2d):  # non-trivial affine maps and running statistics
            module.weight.data[...] = rng.uniform(0.5, 1.5, module.num_features)
            module.bias.data[...] = rng.uniform(-0.5, 0.5, module.num_features)
            module.running_mean[...] = rng.uniform(-0.5, 0.5, module.num_features)
    check_module(block, _x((1, 3, 5, 3), 4), tol=1e-6)


@pytest.mark.parametrize("bn_size", [2, None])
def test_dense_layer_gradcheck_and_torchvision_names(bn_size):
    layer = DenseLayer(3, 2, bn_size=bn_size)
    expected = ["norm1", "conv1"] + (["norm2", "conv2"] if bn_size else [])
    assert [n for n in dict(layer.named_parameters()) if n.endswith(".weight")] == \
        [f"{m}.weight" for m in expected]
    x = np.random.default_rng(7).standard_normal((2, 3, 5, 4))
    out = layer.astype(np.float64).train()(x)
    assert out.shape == (2, 2, 5, 4)
    check_module(layer, x, max_elements=60)


def test_dense_block_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_layers"):
        DenseBlock(0, 3, 2)
    with pytest.raises(ValueError, match="growth_rate"):
        DenseBlock(2, 3, 0)
    with pytest.raises(ValueError, match="bn_size"):
        DenseBlock(2, 3, 2, bn_size=0)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        DenseBlock(2, 3, 2)(np.ones((1, 4, 5, 5)))


def test_dense_block_matches_torch_in_train_and_eval():
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class TorchDenseLayer(nn.Sequential):
        def __init__(self, c, k, bn_size):
            super().__init__()
            self.add_module("norm1", nn.BatchNorm2d(c))
            self.add_module("relu1", nn.ReLU())
            self.add_module("conv1", nn.Conv2d(c, bn_size * k, 1, bias=False))
            self.add_module("norm2", nn.BatchNorm2d(bn_size * k))
            self.add_module("relu2", nn.ReLU())
            self.add_module("conv2", nn.Conv2d(bn_size * k, k, 3, padding=1, bias=False))

    class TorchDenseBlock(nn.Module):
        def __init__(self, num_layers, c, k, bn_size):
            super().__init__()
            for i in range(num_layers):
                self.add_module(f"denselayer{i + 1}", TorchDenseLayer(c + i * k, k, bn_size))

        def forward(self, x):
            for layer in self.children():
                x = torch.cat([x, layer(x)], dim=1)
            return x

    ref = TorchDenseBlock(3, 4, 3, 2).double()
    ours = DenseBlock(3, 4, 3, bn_size=2)
    _copy_into(ours, ref)
    for training in (True, False):
        ref.train(training)
        ours.train(training)
        _torch_parity(ours, ref, _x((2, 4, 6, 5), 5), torch)
        for name, value in ref.state_dict().items():  # running statistics moved alike
            np.testing.assert_allclose(ours.state_dict()[name], value.numpy(), rtol=1e-9, err_msg=name)


def test_a_layer_without_input_gradient_stops_sequential_and_concat_adds_the_others():
    """Conv2d(input_grad=False) returns None: Sequential goes no further back (the
    ChannelSelect before it is never asked), Concat sums only the branches that give one."""
    def branches(first_input_grad):
        return [Sequential(ChannelSelect((0, 1)), Conv2d(2, 3, 3, padding=1, input_grad=first_input_grad), ReLU()),
                Sequential(Conv2d(3, 2, 3, padding=1), Sigmoid())]
    x = _x((2, 3, 5, 5), 3)
    skip, full = Concat(*branches(False)).astype(np.float64), Concat(*branches(True)).astype(np.float64)
    full.load_state_dict(skip.state_dict())
    dy = _x(skip(x).shape, 4)
    full(x)
    dx_skip, dx_full = skip.backward(dy), full.backward(dy)
    dx_second = full.branches[1].backward(dy[:, 3:])  # only the second branch's share
    np.testing.assert_allclose(dx_skip, dx_second, rtol=1e-12)
    assert not np.allclose(dx_full, dx_second)
    first = Sequential(*branches(False)[:1]).astype(np.float64)
    first(x)
    assert first.backward(dy[:, :3]) is None
    only_first = Concat(first)
    only_first(x)
    assert only_first.backward(dy[:, :3]) is None

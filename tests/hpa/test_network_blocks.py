"""Network-specific blocks: GapNet's taps and DenseNet's dense layer and block.

Gradient checks in float64 with a random upstream gradient, forward and
backward against PyTorch twins, and argument checks.
"""
import numpy as np
import pytest
from parity import assert_torch_parity, copy_into, random_array

from hpa.models.densenet import DenseBlock, DenseLayer
from hpa.models.gapnet import GapNet, GapTaps
from minidl.gradcheck import check_module
from minidl.layers import BatchNorm2d, Conv2d, ReLU, Sequential, Sigmoid

# --- GapTaps -----------------------------------------------------------------------------

def _stages():
    return [Sequential(Conv2d(3, 2, 3, padding=1, bias=False), Sigmoid()),
            Sequential(Conv2d(2, 3, 3, stride=2, bias=False), Sigmoid()),
            Sequential(Conv2d(3, 2, 1, bias=False), Sigmoid())]


def test_gap_taps_concatenates_pooled_stage_outputs():
    stages = _stages()
    x = random_array((2, 3, 7, 5))
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
    check_module(layer, random_array((2, 3, 5, 3), 1), tol=1e-6)


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
    copy_into(ours, ref)
    assert_torch_parity(ours, ref, random_array((2, 3, 9, 8)), torch)


@pytest.mark.parametrize("variant", ["bn", "pl"])
def test_gapnet_pooling_before_the_activation_gives_exactly_activation_then_pooling(variant):
    """Blocks 1 and 2 end in max pool -> activation; the textbook order, activation -> max pool,
    gives bit-identical outputs and gradients, ties included (channel 0 of the first
    convolution is constant, so every one of its pooling windows is a 4-way tie)."""
    def build(pool_first):
        model = GapNet(image_size=32, variant=variant, widths=(3, 4, 5), convs=(1, 2, 1), hidden=6,
                       dropout=0.0).astype(np.float64)
        first_conv = model.features.stages[0][-3]
        first_conv.weight.data[0] = 0
        first_conv.bias.data[0] = 0.7
        if not pool_first:
            for stage in model.features.stages[:2]:
                names, layers = list(stage._modules), list(stage._modules.values())
                assert type(layers[-2]).__name__ == "MaxPool2d"
                layers[-2], layers[-1] = layers[-1], layers[-2]
                stage._modules = dict(zip(names, layers))
        return model

    x, dy = random_array((2, 4, 32, 32), 3), random_array((2, 28), 4)
    ours, textbook = build(True), build(False)
    textbook.load_state_dict(ours.state_dict())
    np.testing.assert_array_equal(ours(x), textbook(x))
    np.testing.assert_array_equal(ours.backward(dy), textbook.backward(dy))
    for (name, p), (_, q) in zip(ours.named_parameters(), textbook.named_parameters()):
        np.testing.assert_array_equal(p.grad, q.grad, err_msg=name)


# --- DenseBlock ----------------------------------------------------------------------------

def test_dense_block_appends_each_layers_output_to_its_input():
    block = DenseBlock(3, 2, 3, bn_size=2).astype(np.float64)
    x = random_array((2, 2, 5, 4))
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
    check_module(block, random_array((2, 3, 5, 3), 4), tol=1e-6)


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
    from hpa.bench.torchvision_twins import _DenseBlock  # torchvision's dense block, written with torch.nn

    ref = _DenseBlock(3, 4, bn_size=2, growth_rate=3).double()
    ours = DenseBlock(3, 4, 3, bn_size=2)
    copy_into(ours, ref)
    for training in (True, False):
        ref.train(training)
        ours.train(training)
        assert_torch_parity(ours, ref, random_array((2, 4, 6, 5), 5), torch)
        for name, value in ref.state_dict().items():  # running statistics moved alike
            np.testing.assert_allclose(ours.state_dict()[name], value.numpy(), rtol=1e-9, err_msg=name)

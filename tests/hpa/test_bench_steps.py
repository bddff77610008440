"""The step benchmark's pieces: the PyTorch twin computes what the minidl network
computes from the same weights, and the flop count is the hand count."""
import numpy as np
import pytest

from hpa.bench.steps import step_flops
from hpa.bench.torch_twin import torch_twin
from hpa.models.gapnet import GapTaps
from minidl import layers as nn


def _branchy():
    def branch(reference):
        first = nn.Conv2d(2, 3, 5, padding=2, bias=False, input_grad=False)
        return nn.Sequential(nn.ChannelSelect((reference, 1)), first, nn.MaxPool2d(2), nn.BatchNorm2d(3), nn.ReLU(),
                             nn.Flatten(), nn.Linear(3 * 4 * 4, 5), nn.ReLU())
    return nn.Sequential(nn.Concat(*(branch(r) for r in (0, 2, 3))), nn.Dropout(0.2), nn.Linear(15, 4))


def _gap():
    stages = [nn.Sequential(nn.BatchNorm2d(4), nn.Conv2d(4, 3, 3, stride=2, padding=1), nn.ReLU(), nn.MaxPool2d(2)),
              nn.Sequential(nn.BatchNorm2d(3), nn.Conv2d(3, 5, 3, padding=1), nn.ReLU())]
    return nn.Sequential(GapTaps(stages, dropout=0.3), nn.Linear(8, 4))


@pytest.mark.parametrize("build", [_branchy, _gap], ids=["concat", "gaptaps"])
def test_torch_twin_computes_the_same_outputs_from_the_same_weights(build):
    torch = pytest.importorskip("torch")
    model = build().astype(np.float64)
    x = np.random.default_rng(0).standard_normal((2, 4, 8, 8))
    twin = torch_twin(model, torch).double()
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    model.eval(), twin.eval()
    with torch.no_grad():
        np.testing.assert_allclose(model(x), twin(torch.from_numpy(x)).numpy(), rtol=1e-10, atol=1e-12)


def test_step_flops_counts_three_products_of_every_conv_and_dense_layer():
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.Flatten(), nn.Linear(3 * 5 * 5, 4))
    x = np.zeros((2, 2, 5, 5), np.float32)
    conv_macs = 2 * 3 * 5 * 5 * (2 * 3 * 3)  # outputs x multiply-adds per output
    dense_macs = 2 * 4 * 75
    assert step_flops(model, x) == 3 * 2 * (conv_macs + dense_macs)
    assert "forward" not in model[0].__dict__  # the counting wrapper is gone

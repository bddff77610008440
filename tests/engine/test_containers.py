"""Containers: naming, forward wiring against hand-wired references, gradient checks, PyTorch parity."""
import numpy as np
import pytest
from parity import assert_torch_parity, copy_into, random_array

from minidl.gradcheck import check_module
from minidl.layers.activations import ReLU, Sigmoid
from minidl.layers.containers import ColumnSplit, Concat, ModuleList, Residual, Sequential
from minidl.layers.conv import Conv2d
from minidl.layers.linear import Linear
from minidl.layers.shape import ChannelSelect

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


@pytest.mark.parametrize("batch", [1, 3])
def test_sequential_chains_forward_and_gradcheck(batch):
    seq = Sequential(Linear(7, 5), Sigmoid(), Linear(5, 3, bias=False)).astype(np.float64)
    x = random_array((batch, 7))
    np.testing.assert_allclose(seq(x), seq[2](seq[1](seq[0](x))), rtol=1e-15)
    check_module(seq, x, tol=1e-6)


# --- Concat -----------------------------------------------------------------------------

def test_concat_names_branches_and_concatenates_on_axis_1():
    left, right = Linear(5, 2), Linear(5, 3)
    cat = Concat(left, right).astype(np.float64)
    assert [n for n, _ in cat.named_parameters()] == ["branches.0.weight", "branches.0.bias",
                                                      "branches.1.weight", "branches.1.bias"]
    x = random_array((4, 5))
    np.testing.assert_array_equal(cat(x), np.concatenate([left(x), right(x)], axis=1))


@pytest.mark.parametrize("batch", [1, 2])
def test_concat_gradcheck_features_and_channels(batch):
    check_module(Concat(Linear(7, 3), Linear(7, 5, bias=False)), random_array((batch, 7)), tol=1e-6)
    branches = Concat(Sequential(ChannelSelect((0, 1)), Conv2d(2, 3, 3, padding=1, bias=False)),
                      Sequential(ChannelSelect((2,)), Conv2d(1, 2, 1)),
                      Conv2d(3, 1, 3, bias=False, padding=1))
    check_module(branches, random_array((batch, 3, 5, 3)), tol=1e-6)


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
    copy_into(ours, ref)
    assert_torch_parity(ours, ref, random_array((3, 6)), torch)


# --- Residual -----------------------------------------------------------------------------

def test_residual_adds_identity_or_projection():
    body = Linear(4, 4).astype(np.float64)
    x = random_array((2, 4))
    np.testing.assert_allclose(Residual(body)(x), body(x) + x, rtol=1e-15)
    proj = Linear(4, 3, bias=False).astype(np.float64)
    narrow = Linear(4, 3).astype(np.float64)
    np.testing.assert_allclose(Residual(narrow, proj)(x), narrow(x) + proj(x), rtol=1e-15)
    with pytest.raises(ValueError, match="pass a projection"):
        Residual(narrow)(x)
    with pytest.raises(ValueError, match="projection must be a Module"):
        Residual(body, projection=lambda v: v)


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("projection", [False, True])
def test_residual_gradcheck(projection, batch):
    body = Sequential(Conv2d(3, 3, 3, padding=1, bias=False), Sigmoid(), Conv2d(3, 3, 1, bias=False))
    proj = Conv2d(3, 3, 1, bias=False) if projection else None
    check_module(Residual(body, proj), random_array((batch, 3, 5, 3)), tol=1e-6)


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
    copy_into(ours, ref)
    assert_torch_parity(ours, ref, random_array((2, 2, 5, 4)), torch)


# --- ColumnSplit -----------------------------------------------------------------------------

def test_column_split_feeds_each_branch_its_block_of_columns():
    split = ColumnSplit(Linear(2, 3), Linear(2, 1)).astype(np.float64)
    x = random_array((4, 4))
    y = split(x)
    first, second = split.branches
    expected = np.concatenate([x[:, :2] @ first.weight.data.T + first.bias.data,
                               x[:, 2:] @ second.weight.data.T + second.bias.data], axis=1)
    np.testing.assert_allclose(y, expected, rtol=1e-12)


@pytest.mark.parametrize("batch", [1, 3])
def test_column_split_gradcheck(batch):
    split = ColumnSplit(Sequential(Linear(3, 2), Sigmoid()), Linear(3, 4), Linear(3, 1))
    check_module(split, random_array((batch, 9), seed=batch))


def test_column_split_rejects_indivisible_width():
    with pytest.raises(ValueError, match="divisible by 2"):
        ColumnSplit(Linear(2, 1), Linear(2, 1))(np.ones((2, 5)))
    with pytest.raises(ValueError, match="must not be empty"):
        ColumnSplit()


def test_a_layer_without_input_gradient_stops_sequential_and_concat_adds_the_others():
    """Conv2d(input_grad=False) returns None: Sequential goes no further back (the
    ChannelSelect before it is never asked), Concat sums only the branches that give one."""
    def branches(first_input_grad):
        return [Sequential(ChannelSelect((0, 1)), Conv2d(2, 3, 3, padding=1, input_grad=first_input_grad), ReLU()),
                Sequential(Conv2d(3, 2, 3, padding=1), Sigmoid())]
    x = random_array((2, 3, 5, 5), 3)
    skip, full = Concat(*branches(False)).astype(np.float64), Concat(*branches(True)).astype(np.float64)
    full.load_state_dict(skip.state_dict())
    dy = random_array(skip(x).shape, 4)
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

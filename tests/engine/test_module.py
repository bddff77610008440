"""Module core: registration, dotted names, buffers, modes, dtypes, state dicts and files."""
import os

import numpy as np
import pytest

import minidl as md
from minidl.layers.activations import ReLU
from minidl.layers.batchnorm import BatchNorm2d
from minidl.layers.containers import Concat, Sequential
from minidl.layers.conv import Conv2d
from minidl.layers.dropout import Dropout
from minidl.layers.linear import Linear
from minidl.layers.shape import Flatten


class Block(md.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = Conv2d(c, 2, 3, padding=1)
        self.bn1 = BatchNorm2d(2)
        self.relu = ReLU()
        self.scale = 2.0  # a plain attribute: neither a parameter nor a buffer

    def forward(self, x):
        return self.relu(self.bn1(self.conv1(x)))

    def backward(self, dy):
        return self.conv1.backward(self.bn1.backward(self.relu.backward(dy)))


def _net():
    return Sequential(Concat(Block(3), Block(3)), Flatten(), Dropout(0.5), Linear(4 * 3 * 3, 2))


def test_assignment_registers_parameters_and_modules_with_dotted_names():
    net = _net()
    names = [n for n, _ in net.named_parameters()]
    assert names[:4] == ["0.branches.0.conv1.weight", "0.branches.0.conv1.bias",
                         "0.branches.0.bn1.weight", "0.branches.0.bn1.bias"]
    assert "0.branches.1.conv1.weight" in names and names[-2:] == ["3.weight", "3.bias"]
    assert len(net.parameters()) == len(names) == 10
    assert [n for n, _ in net.named_buffers()][:3] == ["0.branches.0.bn1.running_mean",
                                                      "0.branches.0.bn1.running_var",
                                                      "0.branches.0.bn1.num_batches_tracked"]
    block = net[0].branches[1]
    assert block.scale == 2.0 and "scale" not in dict(block.named_parameters())
    assert dict(net.named_modules())["0.branches.1.bn1"] is block.bn1


def test_reassigning_replaces_registration_and_buffers_update_in_place():
    block = Block(3)
    block.conv1 = None  # no longer a module
    assert not any(n.startswith("conv1") for n, _ in block.named_parameters())
    new_mean = np.arange(2.0, dtype=np.float32)
    block.bn1.running_mean = new_mean  # a registered buffer stays a buffer
    assert dict(block.named_buffers())["bn1.running_mean"] is new_mean


def test_missing_super_init_is_a_clear_error():
    class Broken(md.Module):
        def __init__(self):
            self.weight = md.Parameter(md.init.zeros(3))

    with pytest.raises(AttributeError, match="must call super"):
        Broken()


def test_zero_grad_clears_every_parameter():
    net = _net()
    x = np.random.default_rng(0).standard_normal((2, 3, 3, 3)).astype(np.float32)
    y = net(x)
    net.backward(np.ones_like(y))
    assert any(p.grad.any() for p in net.parameters())
    net.zero_grad()
    assert not any(p.grad.any() for p in net.parameters())


def test_train_and_eval_reach_every_submodule():
    net = _net()
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_astype_casts_parameters_grads_and_float_buffers_only():
    net = _net().astype(np.float64)
    for p in net.parameters():
        assert p.dtype == np.float64 and p.grad.dtype == np.float64
    buffers = dict(net.named_buffers())
    assert buffers["0.branches.0.bn1.running_var"].dtype == np.float64
    assert buffers["0.branches.0.bn1.num_batches_tracked"].dtype == np.int64


def test_state_dict_is_a_copy_and_round_trips():
    source, target = _net(), _net()
    x = np.random.default_rng(1).standard_normal((2, 3, 3, 3)).astype(np.float32)
    source(x)  # move the running statistics away from their initial values
    state = source.state_dict()
    state["3.bias"][...] = 7  # editing the copy must not touch the module
    assert not (source[3].bias.data == 7).any()
    target.load_state_dict(source.state_dict())
    source.eval()
    target.eval()
    np.testing.assert_array_equal(source(x), target(x))
    for name, value in source.state_dict().items():
        np.testing.assert_array_equal(target.state_dict()[name], value, err_msg=name)


def test_load_keeps_the_module_dtype():
    net = _net()
    net.load_state_dict({k: v.astype(np.float64) if v.dtype.kind == "f" else v
                         for k, v in net.state_dict().items()})
    assert all(p.dtype == np.float32 for p in net.parameters())


def test_load_state_dict_names_missing_unexpected_and_misshaped_keys():
    net = _net()
    state = net.state_dict()
    missing = dict(state)
    del missing["0.branches.1.bn1.running_var"]
    with pytest.raises(md.StateDictError, match=r"missing keys: 0\.branches\.1\.bn1\.running_var"):
        net.load_state_dict(missing)
    with pytest.raises(md.StateDictError, match=r"unexpected keys: head\.weight"):
        net.load_state_dict({**state, "head.weight": np.zeros(3)})
    wrong = {**state, "3.weight": np.zeros((3, 36), dtype=np.float32)}
    with pytest.raises(md.StateDictError, match=r"'3\.weight' has shape \(3, 36\).*expects \(2, 36\)"):
        net.load_state_dict(wrong)
    net.load_state_dict(missing, strict=False)  # not strict: a subset loads


def test_save_and_load_npz_round_trip(tmp_path):
    source, target = _net(), _net()
    path = tmp_path / "weights.npz"
    source.save(path)
    target.load(path)
    for name, value in source.state_dict().items():
        np.testing.assert_array_equal(target.state_dict()[name], value, err_msg=name)
    assert md.load_arrays(path)["0.branches.0.bn1.num_batches_tracked"].dtype == np.int64


def test_save_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "weights.npz"
    _net().save(path)
    before = path.read_bytes()

    def failing_savez(file, **arrays):
        file.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", failing_savez)
    with pytest.raises(OSError, match="disk full"):
        _net().save(path)
    assert path.read_bytes() == before  # the old file is intact
    assert os.listdir(tmp_path) == ["weights.npz"]  # and no partial temporary file is left
    with pytest.raises(OSError):
        _net().save(tmp_path / "new.npz")
    assert os.listdir(tmp_path) == ["weights.npz"]

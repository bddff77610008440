"""A training step on the GPU never waits for the device: the loss stays there until the loop
logs it (hpa.training.loss_watch.LossLog), and the NaN watch still stops a diverging run with
the message a CPU run gives. Checked on the fake CUDA device, whose host reads are made to fail."""
import types

import numpy as np
import pytest
from tiny_runs import TINY_LENET, one_line_error

import minidl as md
from hpa import train
from hpa.models.parallel_lenet import ParallelLeNet
from hpa.runtime import cli
from hpa.training.config import TrainConfig
from hpa.training.loss_watch import LossLog, LossWatch
from hpa.training.trainer import Trainer
from minidl.layers.fused import fuse
from minidl.testing.fake_cupy import FakeDeviceArray

READS = ("__float__", "__bool__", "__int__", "__index__", "__format__", "get")


@pytest.fixture
def no_host_reads(monkeypatch):
    """Every way a fake device array reaches the host raises while this fixture is active."""
    def read(self, *args, **kwargs):
        raise AssertionError("a value was read back from the device inside the step")

    def start():
        for name in READS:
            monkeypatch.setattr(FakeDeviceArray, name, read)
    return start


def test_a_gpu_training_step_reads_nothing_back(fake_device, no_host_reads):
    md.manual_seed(0)
    model = ParallelLeNet(image_size=16, conv_channels=(2, 3), branch_features=4, hidden=(5,)).to("gpu")
    assert fuse(model)  # the fused kernels take part
    params = model.parameters()
    step = types.SimpleNamespace(device="gpu", model=model, criterion=md.losses.BCEWithLogitsLoss(),
                                 config=types.SimpleNamespace(clip_norm=0.5), params=params,
                                 optimizer=md.optim.Adam(params, lr=1e-3), backward=model.backward)
    rng = np.random.default_rng(0)
    x = rng.random((4, 4, 16, 16), dtype=np.float32)
    y = (rng.random((4, 28)) < 0.3).astype(np.float32)
    Trainer.train_step(step, x, y)  # the first step makes Adam's state
    no_host_reads()
    loss = Trainer.train_step(step, md.to_device(x), md.to_device(y))
    assert isinstance(loss, FakeDeviceArray) and loss.shape == ()


def test_losses_are_read_in_order_and_a_nan_names_its_own_batch(fake_device):
    now = [0.0]
    log = LossLog(LossWatch(TrainConfig()), epoch=0, clock=lambda: now[0])
    assert not log.add(md.to_device(np.float32(0.5)), 4, 0)  # on the device: kept, not read
    assert not log.add(md.to_device(np.float32(np.nan)), 4, 1)
    assert log.count == 0
    now[0] = LossLog.LOG_EVERY_S  # time to log: everything pending is read, in batch order
    with pytest.raises(Exception, match=r"epoch 1, batch 2: training loss became nan"):
        log.add(md.to_device(np.float32(0.25)), 4, 2)
    assert log.count == 4 and log.total == 2.0  # batch 1 counted, the NaN stopped the rest


def test_host_losses_are_read_at_once():
    log = LossLog(LossWatch(TrainConfig()), epoch=2, total=1.0, count=2)
    assert log.add(3.0, 2, 7)
    assert log.mean == (1.0 + 3.0 * 2) / 4
    with pytest.raises(Exception, match=r"epoch 3, batch 9: training loss became inf"):
        log.add(float("inf"), 2, 8)


def test_a_nan_stops_a_gpu_run_as_it_stops_a_cpu_run(fake_device, tiny_synthetic, tmp_path, capsys):
    errors = []
    for device in ("cpu", "gpu"):
        argv = [*TINY_LENET, "--device", device, "--data", str(tiny_synthetic), "--epochs", "1", "--lr", "1e30",
                "--out", str(tmp_path / device), "--cache-dir", str(tmp_path / "cache")]
        assert cli.run(train.main, argv) == 2
        errors.append(one_line_error(capsys))
    assert "training loss became" in errors[0] and "already clipped to norm 5" in errors[0]
    assert errors[0].split(";")[0] == errors[1].split(";")[0]  # "error: epoch 1, batch N: training loss became nan"

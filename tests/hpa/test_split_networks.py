"""Each split of a training run builds its network once and loads its ``--init`` weights once.

The network is registered in the model registry (the real extension point the
commands read) as a parallel LeNet that records its own construction and every
``load_state_dict``; the run is the real ``hpa.train`` command, in process.
Per split the network is loaded twice: the ``--init`` weights before training,
the best epoch's weights after it (they decide the thresholds).
"""
import inspect

import pytest
from tiny_runs import TINY_LENET_OPTIONS

import minidl as md
from hpa import train
from hpa.evaluation import report
from hpa.models import MODELS, ModelEntry, build_model
from hpa.models.checkpoint import save_checkpoint
from hpa.models.parallel_lenet import ParallelLeNet
from hpa.runtime import cli
from hpa.training import pipeline
from hpa.training.config import TrainConfig
from hpa.training.network import SplitNetworks

EVENTS = []  # ("build" | "load", id of the network)


class RecordingLeNet(ParallelLeNet):
    def load_state_dict(self, state, *args, **kwargs):
        EVENTS.append(("load", id(self)))
        return super().load_state_dict(state, *args, **kwargs)


def build_recording(**options):
    model = RecordingLeNet(**options)
    EVENTS.append(("build", id(model)))
    return model


build_recording.__signature__ = inspect.signature(ParallelLeNet)  # the registry reads the options from it


@pytest.fixture
def recording(monkeypatch):
    monkeypatch.setitem(MODELS, "recording_lenet", ModelEntry(build_recording, 32, "32", "parallel LeNet, recorded"))
    # The plots are other tests' business, and most of a tiny run's time: none here.
    for module, name in ((report, "plot_f1_vs_threshold"), (report, "plot_per_class_f1"),
                         (pipeline, "plot_training_curves")):
        monkeypatch.setattr(module, name, lambda *args, **kwargs: None)
    EVENTS.clear()
    return EVENTS


def run(data, tmp_path, out, *args):
    argv = ["--model", "recording_lenet", "--data", str(data), "--cache-dir", str(tmp_path / "cache"),
            "--val-fraction", "0.25", *TINY_LENET_OPTIONS, "--early-stopping", "0", "--epochs", "1",
            "--out", str(tmp_path / out), *args]
    assert cli.run(train.main, argv) == 0


def per_network(events):
    """[(builds, loads)] of each network, in the order they were built."""
    ids = list(dict.fromkeys(i for _, i in events))
    return [(sum(e == ("build", i) for e in events), sum(e == ("load", i) for e in events)) for i in ids]


def test_each_split_builds_its_network_once_and_loads_init_once(tiny_synthetic, tmp_path, recording):
    """Two folds: two networks, each built once, each given the --init weights once (and its best
    epoch's after training). Before the per-split pipeline, a third network was built and loaded
    only to check the options and the weights."""
    init = tmp_path / "init.npz"
    options = dict(branch_features=8, conv_channels=[4, 8], hidden=[16, 16])
    save_checkpoint(init, build_model("parallel_lenet", image_size=32, **options),
                    {"model": "recording_lenet", "image_size": 32, "model_options": options})
    recording.clear()
    run(tiny_synthetic, tmp_path, "folds", "--folds", "2", "--init", str(init))
    assert per_network(recording) == [(1, 2), (1, 2)]


def test_an_early_network_trains_from_the_random_state_of_a_late_one(recording):
    """The first network is built before the data are read; the random state training starts
    from is the one right after its build, as if it had been built just before training."""
    networks = SplitNetworks(TrainConfig.for_model("parallel_lenet", image_size=32, seed=7))
    md.manual_seed(123)  # anything drawn while the data are prepared
    first = networks.take(md.distributed.SingleProcessGroup())
    after_first = md.rng.get_state()
    second = networks.take(md.distributed.SingleProcessGroup())
    assert md.rng.get_state() == after_first
    for a, b in zip(first.parameters(), second.parameters()):
        assert (md.to_numpy(a.data) == md.to_numpy(b.data)).all()

"""hpa.bench.launch_count on the fake CUDA device: fusion and Adam's group update cut the
launches of a training step, and each fused kernel takes the place of the layers' ones."""
from hpa.bench import launch_count
from hpa.runtime import cli


def test_fused_steps_launch_fewer_kernels(fake_device, monkeypatch):
    monkeypatch.setattr(launch_count, "NETWORKS", {"parallel_lenet": (16, 2), "gapnet": (32, 2)})
    lenet = {fused: launch_count.count("parallel_lenet", fused) for fused in (False, True)}
    assert lenet[False]["adam_update"] == 30 and lenet[True]["adam_update_many"] == 1
    assert lenet[True]["maxpool_batchnorm_input_grad"] == 6 and "maxpool_backward" not in lenet[True]
    assert "batchnorm_apply" not in lenet[True] and lenet[True]["batchnorm_relu_apply"] == 6
    gapnet = {fused: launch_count.count("gapnet", fused) for fused in (False, True)}
    assert gapnet[True]["bias_relu"] == 5 and gapnet[False]["relu_forward"] - gapnet[True]["relu_forward"] == 5
    for counts in (lenet, gapnet):
        assert sum(counts[True].values()) < sum(counts[False].values())


def test_without_a_device_it_says_how_to_run_it(capsys, monkeypatch):
    monkeypatch.setattr(launch_count.md.backend, "cupy", None)
    assert cli.run(launch_count.main, []) == 2
    assert "tests/run_on_fake_device.py -m hpa.bench.launch_count" in capsys.readouterr().err

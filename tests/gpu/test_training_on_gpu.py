"""Whole networks on the GPU: 20 training steps against the CPU, and an exact resume."""
import copy

import numpy as np
import pytest

import minidl as md
from hpa.models import build_model
from minidl.layers.fused import fuse

pytestmark = pytest.mark.gpu

# Small enough for a quick test, big enough to use every layer of each network.
NETWORKS = {
    "parallel_lenet": dict(image_size=32, conv_channels=(4, 8), branch_features=16, hidden=(16, 16)),
    "gapnet": dict(image_size=32, widths=(8, 16, 16), hidden=16),
}
# Resume also on a network whose pooling windows overlap (ResNet's 3x3/2 stem): its
# max-pool backward must add a pixel's shares in a fixed order (a gather, not atomicAdd).
RESUME_NETWORKS = {name: dict(options, dropout=0.3) for name, options in NETWORKS.items()}
RESUME_NETWORKS["resnet18"] = dict(image_size=32, widths=(4, 4, 8, 8))


def _data(image_size, n=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 4, image_size, image_size)).astype(np.float32)
    y = (rng.random((n, 28)) < 0.2).astype(np.float32)
    return x, y


def _steps(model, x, y, steps, device, optimizer=None):
    criterion = md.losses.BCEWithLogitsLoss(pos_weight=np.full(28, 2.0))
    optimizer = optimizer or md.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(steps):
        loss = criterion(model(md.to_device(x, device)), md.to_device(y, device))
        model.zero_grad()
        model.backward(criterion.backward())
        optimizer.step()
        losses.append(loss)
    return losses, optimizer


@pytest.mark.parametrize("fused", [False, True], ids=["layers", "fused"])
@pytest.mark.parametrize("name", list(NETWORKS))
def test_twenty_steps_follow_the_cpu_loss_curve(name, fused):
    md.backend.use("cpu")
    md.manual_seed(0)
    host = build_model(name, **NETWORKS[name], dropout=0.0)  # dropout streams differ by device
    device = copy.deepcopy(host).to("gpu")
    chains = fuse(device) if fused else []  # the fused kernels (minidl.layers.fused) where the order allows
    x, y = _data(NETWORKS[name]["image_size"])
    cpu_losses, _ = _steps(host, x, y, 20, "cpu")
    md.backend.use("gpu")
    gpu_losses, _ = _steps(device, x, y, 20, "gpu")
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-3)
    assert cpu_losses[-1] < cpu_losses[0]  # it trained
    assert len(chains) == (0 if not fused else {"parallel_lenet": 6, "gapnet": 5}[name])
    assert all(chain.ran_fused for chain in chains)


@pytest.mark.parametrize("name", list(RESUME_NETWORKS))
def test_resume_on_the_gpu_is_exact(name):
    """6 steps straight == 3 steps, a checkpoint of model, optimizer and RNG, then 3 more (with dropout)."""
    x, y = _data(RESUME_NETWORKS[name]["image_size"], seed=1)

    def fresh():  # fused, as the trainer runs its model
        md.manual_seed(0)
        model = build_model(name, **RESUME_NETWORKS[name]).to("gpu")
        fuse(model)
        return model

    straight = fresh()
    _steps(straight, x, y, 6, "gpu")

    first = fresh()
    _, optimizer = _steps(first, x, y, 3, "gpu")
    saved = (first.state_dict(), optimizer.state_dict(), md.rng.get_state())
    md.manual_seed(99)  # a resumed process starts from some other state
    resumed = build_model(name, **RESUME_NETWORKS[name]).to("gpu")
    resumed.load_state_dict(saved[0])
    fuse(resumed)
    optimizer = md.optim.Adam(resumed.parameters(), lr=1e-3)
    optimizer.load_state_dict(saved[1])
    md.rng.set_state(saved[2])
    _steps(resumed, x, y, 3, "gpu", optimizer)
    for (key, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=key)

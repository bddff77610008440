"""A PyTorch state_dict loads strictly into the same minidl network and gives the same results."""
import numpy as np
import pytest

from minidl.layers import BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential

torch = pytest.importorskip("torch")
nn = torch.nn


def _pair():
    """The same architecture in both libraries; x (N, 3, 11, 9) -> (N, 6)."""
    ref = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(4, 5, 3, bias=False), nn.BatchNorm2d(5), nn.ReLU(),
                        nn.Flatten(), nn.Linear(5 * 3 * 2, 6)).double()
    ours = Sequential(Conv2d(3, 4, 3, padding=1), BatchNorm2d(4), ReLU(), MaxPool2d(2),
                      Conv2d(4, 5, 3, bias=False), BatchNorm2d(5), ReLU(),
                      Flatten(), Linear(5 * 3 * 2, 6))
    ref.train()
    with torch.no_grad():  # trained-looking weights and running statistics, not the defaults
        for _ in range(3):
            ref(torch.randn(4, 3, 11, 9, dtype=torch.float64) * 2 + 1)
        for module in ref.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
    return ref, ours


def _x(seed):
    return np.random.default_rng(seed).normal(0.5, 2.0, (2, 3, 11, 9))


def test_state_dict_keys_dtypes_and_shapes_match():
    ref, ours = _pair()
    theirs = {k: v.numpy() for k, v in ref.state_dict().items()}
    assert set(ours.state_dict()) == set(theirs)
    for name, value in ours.state_dict().items():
        assert value.shape == theirs[name].shape, name
    assert theirs["1.num_batches_tracked"].dtype == ours.state_dict()["1.num_batches_tracked"].dtype


@pytest.mark.parametrize("training", [False, True])
def test_torch_weights_give_torch_outputs_and_gradients(training):
    torch.manual_seed(0)
    ref, ours = _pair()
    ours.astype(np.float64).load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()}, strict=True)
    ref.train(training)
    ours.train(training)
    x = _x(1)
    xt = torch.tensor(x, requires_grad=True)
    yt = ref(xt)
    dy = np.random.default_rng(2).standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(dy))
    np.testing.assert_allclose(ours(x), yt.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.backward(dy), xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    grads = dict(ref.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, grads[name].grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
    for name, value in ref.state_dict().items():  # running statistics: moved alike, or untouched in eval
        np.testing.assert_allclose(ours.state_dict()[name], value.numpy(), rtol=1e-12, err_msg=name)


def test_float32_model_from_torch_weights_is_close():
    ref, ours = _pair()
    ours.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    ref.eval()
    ours.eval()
    x = _x(3)
    y = ours(x.astype(np.float32))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, ref(torch.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-5)

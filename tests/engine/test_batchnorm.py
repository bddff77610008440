"""BatchNorm2d and BatchNorm1d: per-channel loops, gradient checks, PyTorch parity."""
import numpy as np
import pytest

from minidl.gradcheck import check_module
from minidl.layers.batchnorm import BatchNorm1d, BatchNorm2d


def _randomised(bn, seed=0):
    """Non-trivial affine parameters and running statistics, in float64."""
    rng = np.random.default_rng(seed)
    bn.astype(np.float64)
    c = bn.num_features
    bn.weight.data[...] = rng.uniform(0.5, 1.5, c)
    bn.bias.data[...] = rng.uniform(-1, 1, c)
    bn.running_mean[...] = rng.uniform(-1, 1, c)
    bn.running_var[...] = rng.uniform(0.5, 2, c)
    return bn


def _loop_reference(x, gamma, beta, mean=None, var=None, eps=1e-5):
    """Channel by channel, value by value; batch statistics unless mean/var are given."""
    y = np.empty_like(x)
    batch_mean, batch_var = [], []
    for c in range(x.shape[1]):
        values = x[:, c].ravel()
        mu = sum(values) / len(values) if mean is None else mean[c]
        v = sum((v - mu) ** 2 for v in values) / len(values) if var is None else var[c]
        batch_mean.append(mu)
        batch_var.append(v)
        y[:, c] = gamma[c] * (x[:, c] - mu) / np.sqrt(v + eps) + beta[c]
    return y, np.array(batch_mean), np.array(batch_var)


@pytest.mark.parametrize("cls, shape", [(BatchNorm2d, (4, 3, 5, 3)), (BatchNorm1d, (6, 3)),
                                        (BatchNorm1d, (4, 3, 5))])
def test_training_forward_and_running_update_match_a_loop(cls, shape):
    bn = _randomised(cls(3, momentum=0.3))
    x = np.random.default_rng(1).normal(2.0, 3.0, shape)
    old_mean, old_var = bn.running_mean.copy(), bn.running_var.copy()
    y = bn(x)
    expected, mean, var = _loop_reference(x, bn.weight.data, bn.bias.data)
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-12)
    m = x.size // 3
    np.testing.assert_allclose(bn.running_mean, 0.7 * old_mean + 0.3 * mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, 0.7 * old_var + 0.3 * var * m / (m - 1), rtol=1e-12)
    assert bn.num_batches_tracked.dtype == np.int64 and int(bn.num_batches_tracked) == 1


def test_eval_uses_running_statistics_and_leaves_them_alone():
    bn = _randomised(BatchNorm2d(3)).eval()
    x = np.random.default_rng(2).standard_normal((2, 3, 4, 5))
    before = {k: v.copy() for k, v in bn.state_dict().items()}
    expected, _, _ = _loop_reference(x, bn.weight.data, bn.bias.data, bn.running_mean, bn.running_var)
    np.testing.assert_allclose(bn(x), expected, rtol=1e-10, atol=1e-12)
    for k, v in bn.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("training", [True, False])
def test_gradcheck_batchnorm2d(training, batch):
    bn = _randomised(BatchNorm2d(3)).train(training)
    x = np.random.default_rng(3).standard_normal((batch, 3, 5, 3))
    check_module(bn, x, tol=1e-6)


@pytest.mark.parametrize("training, shape", [(True, (1, 3, 7)), (True, (5, 3)), (False, (1, 3))])
def test_gradcheck_batchnorm1d(training, shape):
    # (N, C) in training needs N > 1: one value per channel has no variance.
    bn = _randomised(BatchNorm1d(3)).train(training)
    x = np.random.default_rng(4).standard_normal(shape)
    check_module(bn, x, tol=1e-6)


def test_float32_stays_float32():
    bn = BatchNorm2d(4)
    x = np.random.default_rng(5).standard_normal((2, 4, 3, 3)).astype(np.float32)
    y = bn(x)
    dx = bn.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == bn.weight.grad.dtype == bn.running_var.dtype == np.float32


def test_float32_is_accurate_for_offset_inputs():
    # Two-pass statistics: a large mean must not swamp the variance.
    x = np.random.default_rng(6).normal(1000.0, 1.0, (8, 2, 16, 16))
    bn = BatchNorm2d(2)
    y32 = bn(x.astype(np.float32))
    y64 = BatchNorm2d(2).astype(np.float64)(x)
    np.testing.assert_allclose(y32, y64, atol=2e-3)


def test_argument_and_shape_errors_name_the_problem():
    with pytest.raises(ValueError, match="num_features"):
        BatchNorm2d(0)
    with pytest.raises(ValueError, match="momentum"):
        BatchNorm2d(3, momentum=1.5)
    with pytest.raises(ValueError, match="eps"):
        BatchNorm1d(3, eps=0)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        BatchNorm2d(3)(np.zeros((2, 4, 5, 5)))
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        BatchNorm1d(3)(np.zeros((2, 3, 4, 5)))
    with pytest.raises(ValueError, match="more than one value per channel"):
        BatchNorm1d(3)(np.zeros((1, 3)))


@pytest.mark.parametrize("cls, shape", [("BatchNorm2d", (3, 5, 4, 3)), ("BatchNorm1d", (7, 5)),
                                        ("BatchNorm1d", (3, 5, 4))])
def test_matches_torch_in_train_and_eval(cls, shape):
    torch = pytest.importorskip("torch")
    ours = {"BatchNorm2d": BatchNorm2d, "BatchNorm1d": BatchNorm1d}[cls](5, momentum=0.2)
    ref = getattr(torch.nn, cls)(5, momentum=0.2).double()
    rng = np.random.default_rng(7)
    with torch.no_grad():
        ref.weight.uniform_(0.5, 1.5)
        ref.bias.uniform_(-1, 1)
    ours.astype(np.float64).load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    for training in (True, True, False):  # two steps move the running statistics twice
        ours.train(training)
        ref.train(training)
        x = rng.normal(1.0, 2.0, shape)
        dy = rng.standard_normal(shape)
        ours.zero_grad()
        y = ours(x)
        dx = ours.backward(dy)
        xt = torch.tensor(x, requires_grad=True)
        ref.zero_grad()
        yt = ref(xt)
        yt.backward(torch.tensor(dy))
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(ours.weight.grad, ref.weight.grad.numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(ours.bias.grad, ref.bias.grad.numpy(), rtol=1e-9, atol=1e-12)
        for name, value in ref.state_dict().items():
            np.testing.assert_allclose(ours.state_dict()[name], value.numpy(), rtol=1e-12, err_msg=name)

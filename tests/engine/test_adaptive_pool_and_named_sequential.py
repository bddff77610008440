"""AdaptiveAvgPool2d (VGG's 7x7 pooling) and Sequential with named children (torchvision layouts)."""
import numpy as np
import pytest

from minidl.gradcheck import check_module
from minidl.layers import AdaptiveAvgPool2d, BatchNorm2d, Conv2d, ReLU, Sequential

# (input H, W, output size): dividing, overlapping bins, identity, growing (bins of one pixel repeated)
CASES = [(8, 6, (4, 3)), (7, 5, (3, 2)), (5, 5, 5), (3, 2, (5, 4)), (9, 9, 1)]


def _loop_reference(x, out):
    """PyTorch's adaptive bins, one output pixel at a time."""
    oh, ow = (out, out) if isinstance(out, int) else out
    h, w = x.shape[2:]
    y = np.zeros(x.shape[:2] + (oh, ow))
    for i in range(oh):
        r0, r1 = (i * h) // oh, -(-((i + 1) * h) // oh)
        for j in range(ow):
            c0, c1 = (j * w) // ow, -(-((j + 1) * w) // ow)
            y[:, :, i, j] = x[:, :, r0:r1, c0:c1].mean(axis=(2, 3))
    return y


@pytest.mark.parametrize("h, w, out", CASES)
def test_forward_matches_loops(h, w, out):
    x = np.random.default_rng(0).standard_normal((2, 3, h, w))
    np.testing.assert_allclose(AdaptiveAvgPool2d(out)(x), _loop_reference(x, out), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("h, w, out", CASES)
@pytest.mark.parametrize("n", [1, 2])
def test_gradcheck(h, w, out, n):
    x = np.random.default_rng(1).standard_normal((n, 2, h, w))
    check_module(AdaptiveAvgPool2d(out), x, tol=1e-7)


@pytest.mark.parametrize("h, w, out", CASES)
def test_matches_torch(h, w, out):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(2).standard_normal((2, 3, h, w))
    dy = np.random.default_rng(3).standard_normal(AdaptiveAvgPool2d(out)(x).shape)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.AdaptiveAvgPool2d(out)(xt)
    yt.backward(torch.tensor(dy))
    pool = AdaptiveAvgPool2d(out)
    np.testing.assert_allclose(pool(x), yt.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(pool.backward(dy), xt.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_float32_stays_float32():
    assert AdaptiveAvgPool2d(2)(np.ones((1, 1, 5, 5), np.float32)).dtype == np.float32


@pytest.mark.parametrize("size", [0, (2,), (2, -1), 1.5])
def test_bad_output_sizes_are_refused(size):
    with pytest.raises(ValueError, match="output_size"):
        AdaptiveAvgPool2d(size)


def test_named_sequential_names_children_by_its_keys_and_runs_in_order():
    conv, norm = Conv2d(2, 3, 3, padding=1, bias=False), BatchNorm2d(3)
    seq = Sequential({"conv0": conv, "norm0": norm, "relu0": ReLU()})
    assert list(seq.state_dict())[:3] == ["conv0.weight", "norm0.weight", "norm0.bias"]
    assert seq.conv0 is conv and seq[1] is norm and len(seq) == 3
    x = np.random.default_rng(0).standard_normal((2, 2, 4, 4)).astype(np.float32)
    np.testing.assert_array_equal(seq(x), np.maximum(norm(conv(x)), 0))


def test_named_sequential_refuses_non_modules():
    with pytest.raises(ValueError, match="modules\\['relu'\\]"):
        Sequential({"relu": "relu"})

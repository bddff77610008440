"""Compare a minidl module with its PyTorch twin: forward, input gradient, every parameter gradient."""
import numpy as np


def random_array(shape, seed=0):
    """Standard normal float64 values: no ties, no zeros, no ReLU kinks in practice."""
    return np.random.default_rng(seed).standard_normal(shape)


def copy_into(ours, ref):
    """Load a torch module's weights into ours (cast to float64) by matching names."""
    ours.astype(np.float64).load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})


def assert_torch_parity(ours, ref, x, torch):
    """Forward, input gradient and every parameter gradient agree with torch (float64)."""
    ref.zero_grad()
    xt = torch.tensor(x, requires_grad=True)
    yt = ref(xt)
    dy = random_array(tuple(yt.shape), 99)
    yt.backward(torch.tensor(dy))
    ours.zero_grad()
    np.testing.assert_allclose(ours(x), yt.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.backward(dy), xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    grads = {name: p.grad for name, p in ref.named_parameters()}
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, grads[name].numpy(), rtol=1e-9, atol=1e-12, err_msg=name)

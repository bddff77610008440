"""Inception-ResNet-V2: timm's names and shapes, timm's logits from its weight file, gradients, training.

timm itself cannot be imported here (its package imports torchvision, whose
compiled ops must match the installed torch), so ``timm_twins`` rebuilds its
module tree with torch.nn; the twin's keys and shapes are checked against
``data/timm_inception_resnet_v2_keys.txt``, written from timm's own model
code. Where timm imports, ``test_timm_itself_...`` checks against it directly.

Sizes: the network needs 75 px (its last map is then 1x1); ``width`` narrows
every channel count, so the deep checks run at full depth on small tensors.
"""
import os

import numpy as np
import pytest
from test_models_overfit import TARGET_LOSS, random_samples, train_until
from test_pretrained_gradcheck import directional_errors, with_running_statistics

import minidl as md
from hpa.models import build_model
from hpa.models.inception_resnet_v2 import MIN_SIZE, ScaledResidual, basic_conv
from hpa.models.pretrained import import_imagenet, read_weights
from hpa.runtime.errors import HpaError
from minidl.gradcheck import check_module
from minidl.layers import BatchNorm2d, Sequential

torch = pytest.importorskip("torch")
twins = pytest.importorskip("hpa.bench.timm_twins")
trained_looking = pytest.importorskip("hpa.bench.torchvision_twins").trained_looking

KEYS = os.path.join(os.path.dirname(__file__), "data", "timm_inception_resnet_v2_keys.txt")
NARROW = dict(width=1 / 16)
CLASSES = 10


def timm_keys():
    """[(key, shape)] of timm's InceptionResnetV2(num_classes=1000)."""
    rows = [line.split() for line in open(KEYS) if not line.startswith("#")]
    return [(k, () if s == "scalar" else tuple(map(int, s.split("x")))) for k, s in rows]


def images(n=2, channels=3, size=MIN_SIZE, seed=1):
    return np.random.default_rng(seed).normal(0.2, 1.0, (n, channels, size, size))


def test_full_network_has_timms_keys_shapes_and_parameter_count():
    expected = timm_keys()
    twin = twins.InceptionResnetV2()
    assert [(k, tuple(v.shape)) for k, v in twin.state_dict().items()] == expected
    md.manual_seed(0)
    ours = build_model("inception_resnet_v2", num_classes=1000, in_channels=3).state_dict()
    assert sorted((k, v.shape) for k, v in ours.items()) == sorted(expected)
    assert sum(int(np.prod(s)) for k, s in expected if not k.endswith("num_batches_tracked")
               and "running" not in k) == 55_843_464


def test_timm_itself_gives_the_same_state_dict_and_logits(tmp_path):
    """Runs where timm (and so torchvision) imports; elsewhere the twin stands in."""
    timm = pytest.importorskip("timm")  # skips too when timm's torchvision import fails
    theirs = trained_looking(timm.create_model("inception_resnet_v2", pretrained=False).double())
    assert [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()] == timm_keys()
    model = build_model("inception_resnet_v2", num_classes=1000, in_channels=3, image_size=MIN_SIZE)
    model.astype(np.float64).load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = images()
    expected = theirs(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(model.eval()(x), expected, rtol=1e-10, atol=1e-10 * np.abs(expected).max())


def saved_twin(tmp_path, dtype=torch.float64, **options):
    torch.manual_seed(0)
    twin = trained_looking(twins.InceptionResnetV2(num_classes=CLASSES, **options).to(dtype), seed=2)
    path = tmp_path / "irv2.pth"
    torch.save(twin.state_dict(), path)
    return twin, path


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-10), (np.float32, 1e-4)])
def test_torch_saved_weights_load_key_for_key_and_give_timms_logits(dtype, rtol, tmp_path):
    twin, path = saved_twin(tmp_path, torch.float64 if dtype == np.float64 else torch.float32, width=1 / 8)
    model = build_model("inception_resnet_v2", in_channels=3, num_classes=CLASSES, image_size=MIN_SIZE, width=1 / 8)
    model.astype(dtype).load_state_dict(read_weights(path), strict=True)
    x = images(size=107).astype(dtype)  # 107 px: the last map is 2x2
    expected = twin(torch.tensor(x)).detach().numpy()
    got = model.eval()(x)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


def test_import_command_keeps_every_backbone_tensor_and_widens_the_first_conv(tmp_path, capsys):
    """The full network through ``hpa.import_weights``: features equal timm's on the RGB stains."""
    from hpa import import_weights
    from hpa.models.checkpoint import load_checkpoint
    from hpa.runtime import cli
    twin, path = saved_twin(tmp_path, torch.float32)
    out = tmp_path / "irv2-hpa.npz"
    argv = ["--arch", "inception_resnet_v2", "--from", str(path), "--out", str(out), "--fourth-channel", "zero"]
    assert cli.run(import_weights.main, argv) == 0
    assert "inception_resnet_v2: 54," in capsys.readouterr().out
    state, meta, _ = load_checkpoint(out)
    theirs = twin.state_dict()
    assert meta["model"] == "inception_resnet_v2" and meta["image_size"] == 299
    assert state["conv2d_1a.conv.weight"].shape == (32, 4, 3, 3) and not state["conv2d_1a.conv.weight"][:, 3].any()
    assert state["classif.weight"].shape == (28, 1536)
    for key, value in theirs.items():
        if not key.startswith("classif.") and key != "conv2d_1a.conv.weight":
            np.testing.assert_array_equal(state[key], value.numpy(), err_msg=key)
    model = import_imagenet("inception_resnet_v2", path, "zero")
    x4 = images(1, channels=4).astype(np.float32)  # yellow's filter is zero: the RGB stains decide
    with torch.no_grad():
        expected = torch.nn.Sequential(*list(twin.children())[:-2])(torch.tensor(x4[:, :3])).numpy()
    np.testing.assert_allclose(model.eval().features(x4), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_safetensors_and_wrong_files_are_reported(tmp_path):
    safetensors = pytest.importorskip("safetensors.numpy")
    twin, path = saved_twin(tmp_path, torch.float32, **NARROW)
    st = tmp_path / "irv2.safetensors"
    safetensors.save_file({k: v.numpy() for k, v in twin.state_dict().items()}, str(st))
    md.manual_seed(0)
    a = import_imagenet("inception_resnet_v2", st, image_size=MIN_SIZE, **NARROW)
    md.manual_seed(0)
    b = import_imagenet("inception_resnet_v2", path, image_size=MIN_SIZE, **NARROW)
    x = images(1, channels=4).astype(np.float32)
    np.testing.assert_array_equal(a.eval()(x), b.eval()(x))
    with pytest.raises(HpaError, match=r"conv2d_1a\.conv\.weight has shape \(2, 4, 3, 3\), the model expects "
                                       r"\(4, 4, 3, 3\)"):
        import_imagenet("inception_resnet_v2", path, width=1 / 8)
    state = twin.state_dict()
    del state["repeat.3.branch0.bn.bias"]
    torch.save(state, tmp_path / "cut.pth")
    with pytest.raises(HpaError, match=r"missing keys repeat\.3\.branch0\.bn\.bias \(is it a torchvision or timm"):
        import_imagenet("inception_resnet_v2", tmp_path / "cut.pth", **NARROW)


def test_image_size_below_75_px_is_refused():
    with pytest.raises(HpaError, match=r"at least 75 px.*any size >= 75"):
        build_model("inception_resnet_v2", image_size=74)


@pytest.mark.parametrize("kind, scale, relu", [("35", 0.17, True), ("17", 0.10, True), ("8", 0.20, True),
                                                ("8", 1.0, False)])
def test_each_scaled_residual_block_gradcheck(kind, scale, relu):
    """Every tensor of one block on its own: the scale, the concatenation and the ReLU-less block8."""
    md.manual_seed(0)
    kernel = {"35": ((3, 3), (1, 1)), "17": ((1, 7), (0, 3)), "8": ((1, 3), (0, 1))}[kind]
    flipped = (kernel[0][::-1], kernel[1][::-1])
    branches = [basic_conv(6, 3, 1),
                Sequential(basic_conv(6, 2, 1), basic_conv(2, 3, kernel[0], padding=kernel[1]),
                           basic_conv(3, 4, flipped[0], padding=flipped[1]))]
    block = ScaledResidual(6, branches, scale, relu).astype(np.float64)
    x = images(2, channels=6, size=7, seed=3)
    block.train()
    check_module(block, x, tol=1e-6, n_directions=3)


@pytest.mark.parametrize("training", [False, True])
def test_whole_network_directional_gradients(training):
    md.manual_seed(0)
    model = build_model("inception_resnet_v2", image_size=MIN_SIZE, **NARROW).astype(np.float64)
    x = images(2, channels=4, seed=7)
    model = model.train() if training else with_running_statistics(model, x)
    errors = directional_errors(model, x)
    assert max(errors) < 1e-6, errors


@pytest.mark.slow
def test_overfits_a_few_random_samples():
    """Full-batch Adam on 4 random 75 px samples with random labels to test_models_overfit's target
    (about 45 steps, 30 s here: the 244 convolutions of the full depth, however narrow)."""
    md.manual_seed(0)
    model = build_model("inception_resnet_v2", image_size=MIN_SIZE, **NARROW)
    x, y = (a[:4] for a in random_samples(MIN_SIZE))
    before = {k: v.copy() for k, v in model.features.state_dict().items()}
    loss, steps = train_until(model, x, y)
    assert loss < TARGET_LOSS, f"training loss {loss:.4f} after {steps} steps"
    moved = [k for k, p in model.features.named_parameters() if not np.array_equal(p.data, before[k])]
    assert len(moved) == len(model.features.parameters())


def test_cam_parts_map_to_the_logits():
    md.manual_seed(0)
    model = build_model("inception_resnet_v2", image_size=107, **NARROW).eval()
    x = images(2, channels=4, size=107).astype(np.float32)
    features, classif = model.cam_parts()
    fmap = features(x)
    assert fmap.shape == (2, 96, 2, 2) and classif is model.classif
    np.testing.assert_allclose(fmap.mean(axis=(2, 3)) @ classif.weight.data.T + classif.bias.data, model(x),
                               rtol=1e-5, atol=1e-6)
    assert all(isinstance(m, BatchNorm2d) and m.eps == 1e-3 for m in model.modules() if isinstance(m, BatchNorm2d))

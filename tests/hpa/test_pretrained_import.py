"""torchvision weights load key for key, give PyTorch's logits, and adapt to 4 stains and 28 classes.

Each architecture's PyTorch twin (``hpa.bench.torchvision_twins``, torchvision's module
names, narrowed) gets trained-looking batch-norm statistics, is saved with
``torch.save`` and read back by ``hpa.models.pretrained``; the minidl network
built with 3 inputs and the twin's classes must load it strictly and give the
twin's eval-mode logits.
"""
import numpy as np
import pytest

import minidl as md
from hpa.models import TORCHVISION_NAMES, build_model
from hpa.models.pretrained import adapt_state, first_conv_and_classifier, import_imagenet, read_weights
from hpa.runtime.errors import HpaError

torch = pytest.importorskip("torch")
twins = pytest.importorskip("hpa.bench.torchvision_twins")

CLASSES = 10
SMALL_RESNET = dict(widths=(2, 3, 4, 5))
SMALL_DENSENET = dict(growth_rate=3, init_features=4, bn_size=2)
SMALL_VGG = dict(widths=(2, 3, 4, 5, 5), hidden=6)
# name -> (twin, minidl options)
CASES = {
    **{f"resnet{d}": (lambda d=d: twins.ResNet(d, num_classes=CLASSES, **SMALL_RESNET), SMALL_RESNET)
       for d in (18, 34, 50, 101)},
    **{f"densenet{d}": (lambda d=d: twins.DenseNet(d, num_classes=CLASSES, **SMALL_DENSENET), SMALL_DENSENET)
       for d in (121, 161, 169)},
    **{f"vgg{d}{bn}": (lambda d=d, bn=bn: twins.VGG(d, bool(bn), num_classes=CLASSES, **SMALL_VGG), SMALL_VGG)
       for d in (16, 19) for bn in ("", "_bn")},
}
SIZE = 64


def test_every_torchvision_architecture_has_a_twin():
    assert set(CASES) == set(TORCHVISION_NAMES)


def saved_twin(name, tmp_path, dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    twin = twins.trained_looking(CASES[name][0]().to(dtype), seed)
    path = tmp_path / f"{name}.pth"
    torch.save(twin.state_dict(), path)
    return twin, path


def images(n=2, channels=3, seed=1):
    return np.random.default_rng(seed).normal(0.2, 1.0, (n, channels, SIZE, SIZE))


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-10), (np.float32, 1e-5)])
def test_torch_state_dict_loads_key_for_key_and_gives_torch_logits(name, dtype, rtol, tmp_path):
    twin, path = saved_twin(name, tmp_path, torch.float64 if dtype == np.float64 else torch.float32)
    state = read_weights(path)
    model = build_model(name, in_channels=3, num_classes=CLASSES, image_size=SIZE, **CASES[name][1]).astype(dtype)
    model.load_state_dict(state, strict=True)
    x = images().astype(dtype)
    expected = twin(torch.tensor(x)).detach().numpy()
    got = model.eval()(x)
    assert got.dtype == dtype
    # Relative to the logits' scale: a logit near 0 is judged against its neighbours' size.
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


def rgb_equivalent(x4, fourth_channel):
    """The RGB image the 3-channel network must see for ``fourth_channel``'s yellow filter (linearity)."""
    r, g, b, y = (x4[:, i] for i in range(4))
    share = {"red-green": (y / 2, y / 2, 0), "red": (y, 0, 0), "mean": (y / 3, y / 3, y / 3), "zero": (0, 0, 0)}
    dr, dg, db = share[fourth_channel]
    return np.stack([r + dr, g + dg, b + db], axis=1)


@pytest.mark.parametrize("name", ["resnet50", "densenet121", "vgg16_bn"])
@pytest.mark.parametrize("fourth_channel", ["red-green", "red", "mean", "zero"])
def test_four_stain_network_sees_yellow_as_the_chosen_rgb_mix(name, fourth_channel, tmp_path):
    """features(r, g, b, y) of the import == the ImageNet network's features of the RGB mix.

    The import stores float32 weights, so the yellow filter, a mean, is rounded
    to float32 (relative 6e-8); a wrong mix would be off by order 1.
    """
    twin, path = saved_twin(name, tmp_path)
    md.manual_seed(0)
    model = import_imagenet(name, path, fourth_channel, image_size=SIZE, **CASES[name][1]).astype(np.float64)
    rgb = build_model(name, in_channels=3, num_classes=CLASSES, image_size=SIZE, **CASES[name][1])
    rgb.astype(np.float64).load_state_dict(read_weights(path))
    x4 = images(channels=4, seed=2)
    np.testing.assert_allclose(model.eval().features(x4), rgb.eval().features(rgb_equivalent(x4, fourth_channel)),
                               rtol=1e-6, atol=1e-7)
    conv, _ = first_conv_and_classifier(model)
    source = twin.state_dict()[conv + ".weight"].numpy()
    np.testing.assert_array_equal(model.state_dict()[conv + ".weight"][:, :3], source.astype(np.float32))


@pytest.mark.parametrize("name", ["resnet18", "densenet161", "vgg19"])
def test_classifier_is_a_fresh_28_way_one_and_everything_else_is_imported(name, tmp_path):
    twin, path = saved_twin(name, tmp_path, torch.float32)
    md.manual_seed(3)
    model = import_imagenet(name, path, image_size=SIZE, **CASES[name][1])
    md.manual_seed(3)
    fresh = build_model(name, image_size=SIZE, **CASES[name][1])
    conv, linear = first_conv_and_classifier(model)
    theirs, ours, new = twin.state_dict(), model.state_dict(), fresh.state_dict()
    for key in (linear + ".weight", linear + ".bias"):
        assert ours[key].shape[0] == 28 and theirs[key].shape[0] == CLASSES
        np.testing.assert_array_equal(ours[key], new[key])  # minidl's own initialisation, untouched
    for key, value in theirs.items():
        if key.split(".")[0] != linear.split(".")[0] and key != conv + ".weight":
            np.testing.assert_array_equal(ours[key], value.numpy(), err_msg=key)
    assert model(images(1, 4).astype(np.float32)).shape == (1, 28)


def test_safetensors_file_imports_like_the_pth_file(tmp_path):
    safetensors = pytest.importorskip("safetensors.numpy")
    twin, pth = saved_twin("resnet34", tmp_path, torch.float32)
    st = tmp_path / "resnet34.safetensors"
    safetensors.save_file({k: v.numpy() for k, v in twin.state_dict().items()}, str(st))
    a = read_weights(st)
    b = read_weights(pth)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    md.manual_seed(0)
    from_st = import_imagenet("resnet34", st, image_size=SIZE, **SMALL_RESNET)
    md.manual_seed(0)
    from_pth = import_imagenet("resnet34", pth, image_size=SIZE, **SMALL_RESNET)
    x = images(1, 4).astype(np.float32)
    np.testing.assert_array_equal(from_st.eval()(x), from_pth.eval()(x))


def test_old_torchvision_densenet_key_names_are_renamed(tmp_path):
    twin, _ = saved_twin("densenet121", tmp_path)
    old = {k.replace("norm1", "norm.1").replace("conv2", "conv.2"): v for k, v in twin.state_dict().items()}
    assert any("norm.1" in k for k in old)
    torch.save(old, tmp_path / "old.pth")
    assert read_weights(tmp_path / "old.pth").keys() == twin.state_dict().keys()


def test_wrong_architecture_names_the_unknown_and_missing_keys(tmp_path):
    _, path = saved_twin("resnet50", tmp_path)
    with pytest.raises(HpaError, match=r"missing keys layer3\.10\..*\(is it a torchvision or timm state dict"):
        import_imagenet("resnet101", path, **SMALL_RESNET)
    with pytest.raises(HpaError, match=r"unknown keys layer1\.0\.bn3\.bias"):
        import_imagenet("resnet18", path, **SMALL_RESNET)


def test_shape_mismatch_names_the_key(tmp_path):
    _, path = saved_twin("resnet18", tmp_path)
    with pytest.raises(HpaError, match=r"layer2\.0\.conv1\.weight has shape \(3, 2, 3, 3\), the model expects \(2, 2, 3, 3\)"):
        import_imagenet("resnet18", path, widths=(2, 2, 4, 5))


def test_adapt_state_keeps_num_batches_tracked_when_the_file_lacks_it():
    model = build_model("resnet18", image_size=SIZE, **SMALL_RESNET)
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    state["conv1.weight"] = state["conv1.weight"][:, :3]
    assert adapt_state(state, model).keys() == model.state_dict().keys()


def test_command_writes_a_checkpoint_and_reports_errors_in_one_line(tmp_path, capsys):
    from hpa import import_weights
    from hpa.models.checkpoint import load_checkpoint
    from hpa.runtime import cli
    _, path = saved_twin("resnet18", tmp_path, torch.float32)
    full = twins.ResNet(18)  # the full width: the command builds the registered network
    torch.save(full.state_dict(), tmp_path / "full.pth")
    out = tmp_path / "resnet18-hpa.npz"
    argv = ["--arch", "resnet18", "--from", str(tmp_path / "full.pth"), "--out", str(out), "--fourth-channel", "zero"]
    assert cli.run(import_weights.main, argv) == 0
    state, meta, _ = load_checkpoint(out)
    assert meta["model"] == "resnet18" and meta["imported"]["fourth_channel"] == "zero"
    assert state["conv1.weight"].shape == (64, 4, 7, 7) and not state["conv1.weight"][:, 3].any()
    assert state["fc.weight"].shape == (28, 512)
    capsys.readouterr()
    assert cli.run(import_weights.main, ["--arch", "resnet50", "--from", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --from ") and "missing keys layer1.0.bn3.bias" in err and err.count("\n") == 1

"""Grad-CAM through the engine's backward: every network, classic CAM agreement, evaluate --cam."""
import numpy as np
import pytest

from hpa import evaluate
from hpa.evaluation.cam import class_activation_maps, panel_maps, plot_cams
from hpa.evaluation.gradcam import grad_cam, recording
from hpa.models import MODELS, build_model
from hpa.models.checkpoint import save_checkpoint
from hpa.runtime import cli
from hpa.synthesis.generate import generate

SMALL = {"parallel_lenet": {"conv_channels": (4, 8), "branch_features": 8, "hidden": (16,)},
         "gapnet": {"widths": (4, 8, 8)}, "gapnet_pl": {"widths": (4, 8, 8)},
         "deepyeast": {"widths": (4, 8, 8), "hidden": 16}, "mcnn": {"width": 4, "merge_channels": 8},
         "densenet": {"block_layers": (2, 2), "growth_rate": 4, "init_features": 8},
         "resnet18": {"widths": (4, 4, 8, 8)},
         # torchvision's architectures at full depth, narrowed
         **{f"resnet{d}": {"widths": (2, 3, 4, 5)} for d in (34, 50, 101)},
         **{f"densenet{d}": {"growth_rate": 2, "init_features": 4, "bn_size": 2} for d in (121, 161, 169)},
         **{f"vgg{d}{bn}": {"widths": (2, 3, 4, 5, 5), "hidden": 6, "pool_size": 2}
            for d in (16, 19) for bn in ("", "_bn")},
         # timm's, at full depth, narrowed; it needs 75 px
         "inception_resnet_v2": {"width": 1 / 16}}
MIN_SIZES = {"inception_resnet_v2": 75}


def small(name, size=32):
    return build_model(name, image_size=max(size, MIN_SIZES.get(name, 0)), **SMALL[name]).eval()


def batch(n=2, size=32, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 4, size, size)).astype(np.float32)


@pytest.mark.parametrize("name", list(MODELS))
def test_every_network_has_grad_cam_maps(name):
    model = small(name)
    maps = grad_cam(model, batch(size=model.expected_input[1]), [3, 5])
    assert [n for n, _ in maps] == ([n for n, _ in model.cam_layers()])
    assert len(maps) == (3 if name == "parallel_lenet" else 1)
    for _, m in maps:
        assert m.ndim == 3 and m.shape[0] == 2 and np.isfinite(m).all() and (m >= 0).all()
    # The recording hooks are gone afterwards: the layers are plain again.
    for _, layer in model.cam_layers():
        assert "forward" not in vars(layer) and "backward" not in vars(layer)


@pytest.mark.parametrize("name", ["densenet", "resnet18"])
def test_grad_cam_of_a_gap_linear_head_is_the_classic_cam(name):
    model = small(name)
    x, classes = batch(3, seed=1), np.array([0, 7, 27])
    (_, maps), = grad_cam(model, x, classes, relu=False)
    h, w = maps.shape[1:]
    cams = class_activation_maps(model, x)[np.arange(3), classes]
    # dy_c/dA_k = W[c, k] / (h w) at every position, so Grad-CAM = CAM / (h w).
    np.testing.assert_allclose(maps * h * w, cams, rtol=1e-4, atol=1e-6)


def test_recorded_gradient_matches_central_differences():
    """The gradient Grad-CAM reads is d logit_c / d A: checked on GapNet's last stage."""
    model = build_model("gapnet", image_size=16, widths=(2, 3, 3), hidden=4).eval()
    x = batch(1, 16, seed=4).astype(np.float64)
    (_, layer), = model.cam_layers()
    store = {}
    with recording(layer, store):
        logits = model(x)
        dy = np.zeros_like(logits)
        dy[0, 2] = 1
        model.backward(dy)
    a, da = store["A"].copy(), store["dA"]

    def logit_with(a_value):  # the network with A replaced by a_value
        object.__setattr__(layer, "forward", lambda _x: a_value)
        try:
            return float(model(x)[0, 2])
        finally:
            del layer.__dict__["forward"]

    assert logit_with(a) == pytest.approx(float(logits[0, 2]), rel=1e-6)
    rng = np.random.default_rng(0)
    for idx in [tuple(rng.integers(0, s) for s in a.shape) for _ in range(3)]:
        eps = 1e-3
        plus, minus = a.copy(), a.copy()
        plus[idx] += eps
        minus[idx] -= eps
        numeric = (logit_with(plus) - logit_with(minus)) / (2 * eps)
        assert numeric == pytest.approx(float(da[idx]), rel=1e-3, abs=1e-6)


def test_parallel_lenet_panels_show_each_branch_over_its_stain():
    maps = [("r", np.full((1, 2, 2), 1.0)), ("b", np.full((1, 2, 2), 2.0)), ("y", np.zeros((1, 2, 2)))]
    maps[0][1][0, 0, 0] = 2.0
    panels = panel_maps(maps)
    assert panels.shape == (1, 5, 2, 2)
    np.testing.assert_allclose(panels[0, 1], [[1, 0.5], [0.5, 0.5]])   # red: its own, scaled to max 1
    np.testing.assert_allclose(panels[0, 3], 1.0)                     # blue
    np.testing.assert_allclose(panels[0, 4], 0.0)                     # yellow: all zero stays zero
    np.testing.assert_allclose(panels[0, 0], panels[0, 2])            # composite and green: the mean


@pytest.mark.parametrize("name", list(MODELS))
def test_plot_cams_for_every_network(name, tmp_path):
    size = MIN_SIZES.get(name, 32)
    images = np.random.default_rng(1).integers(0, 255, (2, 4, size, size), dtype=np.uint8)
    meta = {"mean": [100.0] * 4, "std": [50.0] * 4}
    probs = np.random.default_rng(2).random((2, 28))
    path = plot_cams(small(name), meta, images, probs, tmp_path / "cams.png")
    assert path.stat().st_size > 1000


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic")
    generate(folder, n=12, size=32, seed=5, progress=False)
    return folder


@pytest.mark.parametrize("name", list(MODELS))
def test_evaluate_cam_works_for_every_network(name, data, tmp_path, capsys):
    model = small(name)
    meta = {"model": name, "model_options": SMALL[name], "image_size": MIN_SIZES.get(name, 32), "mean": [20.0] * 4,
            "std": [30.0] * 4, "thresholds": [0.5] * 28}
    save_checkpoint(tmp_path / "best.npz", model, meta)
    code = cli.run(evaluate.main, ["--checkpoint", str(tmp_path / "best.npz"), "--data", str(data),
                                   "--out", str(tmp_path / "eval"), "--cam", "2",
                                   "--cache-dir", str(tmp_path / "cache")])
    assert code == 0
    assert "Grad-CAM of 2 samples" in capsys.readouterr().out
    assert (tmp_path / "eval" / "class_activation_maps.png").stat().st_size > 1000

"""Class activation maps: their spatial mean is the logit, and they plot."""
import numpy as np

from hpa.evaluation.cam import class_activation_maps, plot_cams
from hpa.models import build_model


def _small_resnet():
    model = build_model("resnet18", image_size=32, widths=(4, 4, 8, 8)).eval()
    return model


def test_cam_mean_plus_bias_is_the_logit():
    model = _small_resnet()
    x = np.random.default_rng(0).standard_normal((2, 4, 32, 32)).astype(np.float32)
    logits = model(x)
    cams = class_activation_maps(model, x)
    _, classifier = model.cam_parts()
    assert cams.shape[:2] == (2, 28)
    np.testing.assert_allclose(cams.mean(axis=(2, 3)) + classifier.bias.data, logits, rtol=1e-4, atol=1e-5)


def test_plot_cams_writes_a_png(tmp_path):
    model = _small_resnet()
    images = np.random.default_rng(1).integers(0, 255, (2, 4, 32, 32), dtype=np.uint8)
    meta = {"mean": [100.0] * 4, "std": [50.0] * 4}
    probs = np.random.default_rng(2).random((2, 28))
    path = plot_cams(model, meta, images, probs, tmp_path / "cams.png")
    assert path.stat().st_size > 1000

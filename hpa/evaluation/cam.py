"""Class activation maps (Zhou et al. 2016) for networks that end in GAP + Linear, and the plot
of Grad-CAM maps (:mod:`hpa.evaluation.gradcam`, every network) that ``hpa.evaluate --cam`` draws.

If the last feature maps are A (C, h, w) and the classifier computes
``logit_k = sum_c W[k, c] * mean_xy A[c, x, y] + b_k``, then

    CAM_k(x, y) = sum_c W[k, c] * A[c, x, y]

is a map whose mean is the logit (minus the bias): it shows where in the
image the evidence for class k lies. Networks that support it provide
``cam_parts() -> (feature_module, classifier_linear)``.
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import minidl as md  # noqa: E402
from hpa.data.reading.labels import CHANNELS, CLASS_NAMES  # noqa: E402
from hpa.evaluation.data_plots import composite  # noqa: E402
from hpa.evaluation.gradcam import grad_cam  # noqa: E402
from hpa.evaluation.training_plots import _save  # noqa: E402


def class_activation_maps(model, x):
    """CAMs (N, K, h, w) for a normalised float32 batch x (N, 4, S, S)."""
    features, classifier = model.cam_parts()
    model.eval()
    maps = md.to_numpy(features(md.to_device(x)))  # (N, C, h, w)
    weight = md.to_numpy(classifier.weight.data)    # (K, C)
    return np.einsum("kc,nchw->nkhw", weight, maps)


def _normalised(maps):
    """Each map (N, h, w) scaled to a maximum of 1 (an all-zero map stays zero)."""
    peak = maps.max(axis=(1, 2), keepdims=True)
    return maps / np.where(peak > 0, peak, 1)


def panel_maps(named_maps):
    """Which map lies over each of the 5 panels (composite, red, green, blue, yellow): (N, 5, h, w).

    One map: over every panel. The parallel LeNet's three branch maps: each
    over its reference stain, their mean over the composite and green (the
    protein stain every branch reads).
    """
    maps = [_normalised(m) for _, m in named_maps]
    if len(maps) == 1:
        return np.repeat(maps[0][:, None], 5, axis=1)
    red, blue, yellow = maps
    mean = (red + blue + yellow) / 3
    return np.stack([mean, red, mean, blue, yellow], axis=1)


def plot_cams(model, meta, images, probs, path):
    """One row per sample: the composite, then each of the four stains, with the
    Grad-CAM map (:mod:`hpa.evaluation.gradcam`) of the sample's most probable
    class laid over each; images uint8 (N, 4, S, S), probs (N, 28)."""
    mean = np.asarray(meta["mean"], np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(meta["std"], np.float32).reshape(1, -1, 1, 1)
    x = ((np.asarray(images, np.float32) - mean) / std).astype(np.float32)
    classes = np.argmax(probs, axis=1)
    named = grad_cam(model, x, classes)
    overlays = panel_maps(named)
    n, size = len(images), images.shape[-1]
    fig, axes = plt.subplots(n, 5, figsize=(12, 2.6 * n), squeeze=False)
    for i in range(n):
        k = int(classes[i])
        panels = [("composite", composite(images[i]), None)] + \
                 [(name, images[i, c], "gray") for c, name in enumerate(CHANNELS)]
        for j, (ax, (title, picture, cmap)) in enumerate(zip(axes[i], panels)):
            ax.imshow(picture, cmap=cmap)
            # Bilinear upsampling of the coarse map onto the image.
            ax.imshow(overlays[i, j], cmap="jet", alpha=0.4, vmin=0, vmax=1, extent=(0, size, size, 0),
                      interpolation="bilinear")
            ax.set_title(title if title != "composite" else
                         f"Grad-CAM {CLASS_NAMES[k]} (p={probs[i, k]:.2f})", fontsize=8)
            ax.axis("off")
    return _save(fig, path)

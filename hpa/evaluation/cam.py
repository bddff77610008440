"""Class activation maps (Zhou et al. 2016) for networks that end in GAP + Linear.

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
from hpa.data.labels import CHANNELS, CLASS_NAMES  # noqa: E402
from hpa.evaluation.data_plots import composite  # noqa: E402
from hpa.evaluation.training_plots import _save  # noqa: E402


def class_activation_maps(model, x):
    """CAMs (N, K, h, w) for a normalised float32 batch x (N, 4, S, S)."""
    features, classifier = model.cam_parts()
    model.eval()
    maps = md.to_numpy(features(md.to_device(x)))  # (N, C, h, w)
    weight = md.to_numpy(classifier.weight.data)    # (K, C)
    return np.einsum("kc,nchw->nkhw", weight, maps)


def plot_cams(model, meta, images, probs, path):
    """One row per sample: the composite, then each of the four stains, with the
    class activation map of the sample's most probable class laid over each."""
    mean = np.asarray(meta["mean"], np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(meta["std"], np.float32).reshape(1, -1, 1, 1)
    x = ((np.asarray(images, np.float32) - mean) / std).astype(np.float32)
    cams = class_activation_maps(model, x)
    n, size = len(images), images.shape[-1]
    fig, axes = plt.subplots(n, 5, figsize=(12, 2.6 * n), squeeze=False)
    for i in range(n):
        k = int(np.argmax(probs[i]))
        cam = cams[i, k]
        # Nearest upsampling: each CAM cell covers a block of pixels.
        cam = np.kron(cam, np.ones((size // cam.shape[0], size // cam.shape[1])))
        panels = [("composite", composite(images[i]), None)] + \
                 [(name, images[i, c], "gray") for c, name in enumerate(CHANNELS)]
        for ax, (title, picture, cmap) in zip(axes[i], panels):
            ax.imshow(picture, cmap=cmap)
            ax.imshow(cam, cmap="jet", alpha=0.4, extent=(0, size, size, 0))
            ax.set_title(title if title != "composite" else
                         f"CAM {CLASS_NAMES[k]} (p={probs[i, k]:.2f})", fontsize=8)
            ax.axis("off")
    return _save(fig, path)

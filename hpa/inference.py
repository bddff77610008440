"""Rebuild trained networks from checkpoints and turn images into probabilities.

Shared by ``hpa.predict`` (submissions) and ``hpa.evaluate`` (metrics on a
labelled folder). Several checkpoints (e.g. the K folds' models) are averaged;
test-time augmentation averages over the 8 flips and 90-degree rotations.
"""
import numpy as np

from hpa.augment import dihedral
from hpa.checkpoint import load_checkpoint
from hpa.errors import HpaError
from hpa.loader import BatchLoader
from hpa.models import build_model
from hpa.trainer import predict_logits, sigmoid
from minidl import StateDictError


def load_model(path):
    """(model in eval mode, meta) from a checkpoint written by training."""
    state, meta, _ = load_checkpoint(path)
    try:
        model = build_model(meta["model"], image_size=meta["image_size"], **meta.get("model_options", {}))
        model.load_state_dict(state)
    except (KeyError, StateDictError) as error:
        raise HpaError(f"checkpoint {path} does not fit model {meta.get('model')!r}: {error}") from None
    return model.eval(), meta


def load_models(paths):
    """Models and metas of several checkpoints that must agree on the input size."""
    loaded = [load_model(p) for p in paths]
    sizes = {meta["image_size"] for _, meta in loaded}
    if len(sizes) > 1:
        raise HpaError(f"checkpoints expect different image sizes {sorted(sizes)}; average only "
                       "models trained on the same size")
    return loaded


def predict_probs(loaded, images, batch_size=32, tta=False, device=None):
    """Mean sigmoid probability (N, 28) over models (and the 8 dihedral views with ``tta``).

    loaded: list of (model, meta) from :func:`load_models`; images uint8 (N, 4, S, S).
    """
    views = range(8) if tta else [0]
    total = None
    for model, meta in loaded:
        expected = meta["image_size"]
        if images.shape[-1] != expected:
            raise HpaError(f"images are {images.shape[-1]} px but the checkpoint's model expects {expected} px")
        for g in views:
            loader = BatchLoader(images, None, batch_size=batch_size, shuffle=False,
                                 mean=meta["mean"], std=meta["std"],
                                 augment=(lambda x, rng, g=g: dihedral(x, g)) if g else None)
            probs = sigmoid(predict_logits(model, loader, device))
            total = probs if total is None else total + probs
    return total / (len(loaded) * len(views))


def mean_thresholds(loaded, override=None):
    """The models' validation-tuned thresholds, averaged; ``override`` (a number) replaces them."""
    if override is not None:
        return np.full(28, float(override), dtype=np.float32)
    found = [np.asarray(meta["thresholds"], dtype=np.float32) for _, meta in loaded if meta.get("thresholds")]
    if not found:
        return np.full(28, 0.5, dtype=np.float32)
    return np.mean(found, axis=0)

"""Rebuild trained networks from checkpoints and turn images into probabilities.

Shared by ``hpa.predict`` (submissions) and ``hpa.evaluate`` (metrics on a
labelled folder). Several checkpoints (e.g. the K folds' models) are averaged;
test-time augmentation averages over the 8 flips and 90-degree rotations.
"""
import logging
import os

import numpy as np

import minidl as md
from hpa.data.augmentation.augment import dihedral
from hpa.data.batches.loader import BatchLoader
from hpa.data.reading.dataset import open_dataset
from hpa.evaluation.thresholds import load_thresholds
from hpa.models.checkpoint import build_checked_model, open_checkpoint
from hpa.runtime import cli
from hpa.runtime.errors import HpaError
from minidl import StateDictError
from minidl.losses import sigmoid

OOF_THRESHOLDS = "oof_thresholds.json"  # written by hpa.training.pipeline


def load_model(path):
    """(model in eval mode, meta) from a checkpoint written by training.

    The meta is checked and the network built, and the file's declared weight
    shapes compared with it, before any weight is read (:mod:`hpa.models.checkpoint`).
    """
    checked = open_checkpoint(path)
    try:
        model = build_checked_model(checked, f"checkpoint {path}")
        state, meta, _ = checked.read()
    finally:
        checked.close()
    try:
        model.load_state_dict(state)
    except (KeyError, StateDictError, TypeError) as error:
        raise HpaError(f"checkpoint {path} does not fit model {meta.get('model')!r}: {error}") from None
    return model.eval(), meta


def predict_logits(model, loader, device=None):
    """Logits (N, 28) float32 host array for every batch of ``loader``, in eval mode.

    Runs under ``minidl.no_grad()``: no layer keeps its input for a backward
    pass, so memory holds one batch's activations at a time, layer by layer.
    """
    model.eval()
    with md.no_grad():
        chunks = [md.to_numpy(model(md.to_device(x, device))) for x, _ in loader]
    return np.concatenate(chunks).astype(np.float32)


def load_models(paths, device="cpu"):
    """Models (on ``device``, which :func:`hpa.runtime.device.use_device` chose) and metas of
    checkpoints that must agree on the input size."""
    loaded = [(model.to(device), meta) for model, meta in map(load_model, paths)]
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


def oof_thresholds_file(paths):
    """The ``oof_thresholds.json`` of the K-fold run that all ``paths`` belong to, or None.

    A fold's checkpoint is ``<run>/fold<k>/best.npz`` (or ``.../fold<k>/finetune/best.npz``);
    the out-of-fold thresholds were tuned on the folds' ensemble's own kind of
    predictions (every sample scored by the model that did not train on it), so
    they fit the average of those models better than the mean of per-fold thresholds.
    """
    if len(paths) < 2:
        return None
    found = set()
    for path in paths:
        folder = os.path.dirname(os.path.abspath(path))
        candidates = [os.path.join(up, OOF_THRESHOLDS) for up in
                      (os.path.dirname(folder), os.path.dirname(os.path.dirname(folder)))]
        hits = [c for c in candidates if os.path.isfile(c)]
        if not hits:
            return None
        found.add(hits[0])
    return found.pop() if len(found) == 1 else None


def mean_thresholds(loaded, override=None, paths=()):
    """Per-class thresholds (28,) for the models' averaged probabilities.

    ``override`` (a number) replaces them; several checkpoints of one K-fold
    run (``paths``) use that run's out-of-fold thresholds; otherwise the
    models' validation-tuned thresholds are averaged.
    """
    if override is not None:
        return np.full(28, float(override), dtype=np.float32)
    oof = oof_thresholds_file(list(paths))
    if oof:
        print(f"using the out-of-fold thresholds {oof}")
        return load_thresholds(oof).astype(np.float32)
    found = [np.asarray(meta["thresholds"], dtype=np.float32) for _, meta in loaded if meta.get("thresholds")]
    if not found:
        return np.full(28, 0.5, dtype=np.float32)
    return np.mean(found, axis=0)


def skipped_samples(data, cache, split="train", skip_bad=True):
    """[(Id, reason)] of the samples of folder ``data`` that its image ``cache`` lacks.

    Samples with a missing channel file never reach the cache (``skip_bad``:
    they are looked up again, quietly: opening the folder has warned already);
    ``cache.skipped`` holds those whose images could not be decoded.
    """
    incomplete = []
    if skip_bad:
        logger = logging.getLogger(open_dataset.__module__)
        was_disabled, logger.disabled = logger.disabled, True
        try:
            incomplete = open_dataset(data, split=split, skip_bad=True).skipped
        finally:
            logger.disabled = was_disabled
    return list(incomplete) + list(cache.skipped)


def add_arguments(parser, data_help):
    """The options ``hpa.predict`` and ``hpa.evaluate`` share."""
    parser.add_argument("--checkpoint", nargs="+", required=True,
                        help="best.npz of one or more trained models (averaged)")
    parser.add_argument("--data", required=True, help=data_help)
    parser.add_argument("--tta", action="store_true", help="average over the 8 flips and 90-degree rotations")
    parser.add_argument("--threshold", type=cli.fraction, help="one threshold for every class "
                        "(default: the per-class thresholds stored in the checkpoint)")
    parser.add_argument("--at-least-one", action="store_true",
                        help="give a sample with no class above threshold its most probable class")
    parser.add_argument("--batch-size", type=cli.positive_int, default=32, help="images per forward pass")
    parser.add_argument("--cache-dir", help="folder for the image cache (default: $HPA_CACHE or ~/.cache/hpa)")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu", help="gpu needs CuPy")
    parser.add_argument("--skip-bad", action="store_true",
                        help="leave out (and count) samples with missing or unreadable images")
    parser.add_argument("--overwrite", action="store_true", help="replace what --out holds already")
    return parser

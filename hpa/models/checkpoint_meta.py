"""What a checkpoint's meta and training state must look like before anything is built from them.

A crafted ``meta.json`` can ask for a network of any size, or hold values of
the wrong kind that would end in tracebacks deep in the code that uses them.
:func:`check_meta` bounds what builds a model (name, input size, options) and
checks what inference reads (channel statistics, thresholds);
:func:`check_training_state` checks what ``--resume`` restores (epoch,
position, early stopping, random state). Each raises a one-line
:class:`HpaError` starting with ``where``.

The options' *values* are left to ``build_model``'s own checks, under a memory
budget (:mod:`hpa.models.memory_budget`) that follows from the size of the
weights the file holds.
"""
import math
import numbers

import numpy as np

from hpa.runtime.errors import HpaError, quote

MAX_IMAGE_SIZE = 4096       # px; HPA originals are 2048 or 3072 px square
MAX_OPTION_LENGTH = 64      # items in one list option (e.g. widths)
NUM_CHANNELS, NUM_CLASSES = 4, 28


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def check_meta(meta, where, inference=False):
    """Check the model-building part of ``meta`` (and with ``inference``, statistics and thresholds)."""
    from hpa.models import MODELS  # here: hpa.models imports the networks, which need not load for a check
    name = meta.get("model")
    if not isinstance(name, str) or name not in MODELS:
        raise HpaError(f"{where}: meta names model {quote(name)}, which is not one of hpa's networks")
    size = meta.get("image_size")
    if not _is_int(size) or not 1 <= size <= MAX_IMAGE_SIZE:
        raise HpaError(f"{where}: meta's image_size {quote(size)} is not a whole number of px in 1..{MAX_IMAGE_SIZE}")
    options = meta.get("model_options", {})
    if not isinstance(options, dict):
        raise HpaError(f"{where}: meta's model_options is not a JSON object")
    for key, value in options.items():
        items = value if isinstance(value, list) else [value]
        if len(items) > MAX_OPTION_LENGTH or not all(
                item is None or isinstance(item, (bool, str)) or _is_number(item) for item in items):
            raise HpaError(f"{where}: model option {quote(key)} = {quote(value)} is not a number, word or "
                           f"short list of them")
    stains = meta.get("stains")
    if stains is not None and (not isinstance(stains, list) or not 1 <= len(stains) <= NUM_CHANNELS
                               or not all(isinstance(s, str) and len(s) <= 16 for s in stains)):
        raise HpaError(f"{where}: meta's stains {quote(stains)} are not 1 to {NUM_CHANNELS} stain names")
    if inference:
        for key, low in (("mean", -math.inf), ("std", 0.0)):
            values = meta.get(key)
            if (not isinstance(values, list) or len(values) != NUM_CHANNELS
                    or not all(_is_number(v) and v > low for v in values)):
                raise HpaError(f"{where}: meta's {key!r} is not {NUM_CHANNELS} finite numbers"
                               f"{' above 0' if low == 0 else ''} (one per stain), got {quote(values)}")
        thresholds = meta.get("thresholds")
        if thresholds is not None and (not isinstance(thresholds, list) or len(thresholds) != NUM_CLASSES
                                       or not all(_is_number(t) and 0 <= t <= 1 for t in thresholds)):
            raise HpaError(f"{where}: meta's thresholds are not {NUM_CLASSES} numbers in 0..1, "
                           f"got {quote(thresholds)}")
        config = meta.get("config", {})
        if not isinstance(config, dict) or not isinstance(config.get("intensity", "fixed"), str):
            raise HpaError(f"{where}: meta's config is not a JSON object with a text intensity")
    return meta


def check_training_state(state, where):
    """Check what ``--resume`` restores: epoch, position, optimizer/schedule layout, early stopping, rng."""
    epoch = state.get("epoch")
    if not _is_int(epoch) or epoch < -1:
        raise HpaError(f"{where}: the training state's epoch {quote(epoch)} is not a whole number >= -1")
    for key in ("optimizer", "schedule"):
        if not isinstance(state.get(key), dict) and not (key == "schedule" and state.get(key) is None):
            raise HpaError(f"{where}: the training state's {key} is not a JSON object")
    _check_fields(state.get("early_stopping"), {"patience": _is_int, "best": _is_number,
                                                "best_epoch": _is_int, "bad_epochs": _is_int},
                  f"{where}: the early-stopping state")
    position = state.get("position")
    if position is not None:
        _check_fields(position, {"epoch": _is_int, "batch": _is_int, "loss_sum": _is_number,
                                 "samples": _is_int, "order": _is_index_array}, f"{where}: the within-epoch position")
    _check_rng(state.get("rng"), f"{where}: the random state")
    return state


def _is_index_array(value):
    return isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind in "iu"


def _check_fields(value, kinds, what):
    if not isinstance(value, dict) or set(value) != set(kinds):
        raise HpaError(f"{what} is not a JSON object with exactly {', '.join(kinds)}")
    for key, kind in kinds.items():
        if not kind(value[key]) or (_is_int(value[key]) and value[key] < -1):
            raise HpaError(f"{what}'s {key} has the wrong kind or range: {quote(value[key])}")


def _check_rng(rng, what):
    """``{"host": PCG64 state, "device": {"seed", "draws"}}`` (or an older host-only PCG64 state)."""
    if not isinstance(rng, dict):
        raise HpaError(f"{what} is not a JSON object")
    host = rng.get("host", rng)
    if not isinstance(host, dict) or host.get("bit_generator") != "PCG64":
        raise HpaError(f"{what} is not a PCG64 generator's state")
    inner = host.get("state")
    if (not isinstance(inner, dict) or set(inner) != {"state", "inc"}
            or not all(_is_int(inner[k]) and 0 <= inner[k] < 2 ** 128 for k in inner)
            or not all(_is_int(host.get(k)) and 0 <= host.get(k) < 2 ** 32 for k in ("has_uint32", "uinteger"))):
        raise HpaError(f"{what}: its PCG64 state is not two 128-bit numbers and two 32-bit ones")
    if "host" in rng:
        device = rng.get("device")
        if (not isinstance(device, dict) or set(device) != {"seed", "draws"}
                or not all(_is_int(v) and abs(v) < 2 ** 128 for v in device.values()) or device["draws"] < 0):
            raise HpaError(f"{what}: its device part is not a seed and a draw count")

"""Training checkpoints: everything needed to predict with a model or resume its training.

One ``.npz`` file holds the model's weights (``model/<name>``), the arrays of
the optimizer and other state (``state/<n>``), and a JSON document
(``meta.json``) with the rest: model name and options, input size, channel
statistics, thresholds, epoch, and the optimizer/schedule/early-stopping
state with each array replaced by a reference to its ``state/<n>`` key.

Files are written atomically (temporary file + rename), so an interrupted run
always leaves the previous complete checkpoint in place.
"""
import json
import os
import zipfile

import numpy as np

from hpa.errors import HpaError
from minidl import load_arrays, save_arrays

FORMAT = "hpa-checkpoint-1"


def _pack(obj, arrays):
    """Replace arrays in a nested dict/list by ``{"__array__": key}``."""
    if isinstance(obj, dict):
        return {str(k): _pack(v, arrays) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_pack(v, arrays) for v in obj]
    if isinstance(obj, np.ndarray):
        key = f"state/{len(arrays)}"
        arrays[key] = obj
        return {"__array__": key}
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _unpack(obj, arrays):
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            return arrays[obj["__array__"]]
        return {k: _unpack(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unpack(v, arrays) for v in obj]
    return obj


def save_checkpoint(path, model, meta, state=None):
    """Write ``model`` weights, JSON-able ``meta`` and nested ``state`` to ``path``.

    ``state`` may hold NumPy arrays at any depth (optimizer moments, RNG state).
    """
    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
    packed = _pack(state or {}, arrays)
    document = {"format": FORMAT, "meta": meta, "state": packed}
    arrays["meta.json"] = np.frombuffer(json.dumps(document).encode("utf-8"), dtype=np.uint8)
    save_arrays(path, arrays)


def load_checkpoint(path):
    """Read a checkpoint: returns ``(model_state, meta, state)``.

    Raises HpaError naming the file if it is missing, truncated or not ours.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise HpaError(f"checkpoint {path} does not exist")
    try:
        arrays = load_arrays(path)
        document = json.loads(bytes(arrays.pop("meta.json")).decode("utf-8"))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as error:
        raise HpaError(f"checkpoint {path} is unreadable or not an hpa checkpoint "
                       f"({type(error).__name__})") from None
    if document.get("format") != FORMAT:
        raise HpaError(f"checkpoint {path} has format {document.get('format')!r}, expected {FORMAT!r}")
    model_state = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
    return model_state, document["meta"], _unpack(document["state"], arrays)

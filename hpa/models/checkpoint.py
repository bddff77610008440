"""Training checkpoints: everything needed to predict with a model or resume its training.

One ``.npz`` file holds the model's weights (``model/<name>``), the arrays of
the optimizer and other state (``state/<n>``), and a JSON document
(``meta.json``) with the rest: model name and options, input size, channel
statistics, thresholds, epoch, and the optimizer/schedule/early-stopping
state with each array replaced by a reference to its ``state/<n>`` key.

Files are written atomically (temporary file + rename), so an interrupted run
always leaves the previous complete checkpoint in place.

Files are read as if someone else had crafted them: sizes, array shapes and
meta.json are checked before any array data is read
(:mod:`hpa.models.checkpoint_file`), and a network is built from a meta only
after its options are bounded (:mod:`hpa.models.checkpoint_meta`) and within a
memory budget set by the weights the file holds (:mod:`hpa.models.memory_budget`).
"""
import json

import numpy as np

from hpa.models.checkpoint_file import FORMAT, open_checkpoint
from hpa.models.checkpoint_meta import check_meta
from hpa.models.memory_budget import address_space_budget, budget_for
from hpa.runtime.errors import HpaError, quote
from minidl import backend, save_arrays

__all__ = ["FORMAT", "build_checked_model", "load_checkpoint", "open_checkpoint", "save_checkpoint"]


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


def save_checkpoint(path, model, meta, state=None):
    """Write ``model`` weights, JSON-able ``meta`` and nested ``state`` to ``path``.

    ``state`` may hold NumPy arrays at any depth (optimizer moments, RNG state).
    """
    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
    packed = _pack(state or {}, arrays)
    document = {"format": FORMAT, "meta": meta, "state": packed}
    arrays["meta.json"] = np.frombuffer(json.dumps(document).encode("utf-8"), dtype=np.uint8)
    save_arrays(path, arrays)


def load_checkpoint(path, fits=None, where=None):
    """Read a checkpoint: returns ``(model_state, meta, state)``.

    With ``fits`` (a model), the weights' names and shapes must be that
    model's, checked before any array is read; errors then start with
    ``where`` (default ``checkpoint <path>``). Raises a one-line HpaError
    naming the file if it is missing, truncated, crafted or not ours.
    """
    checked = open_checkpoint(path)
    try:
        if fits is not None:
            checked.check_fits(fits, where or f"checkpoint {path}")
        return checked.read()
    finally:
        checked.close()


def build_checked_model(checked, where):
    """The network a checked checkpoint's meta describes, built on the host within the memory its weights justify."""
    from hpa.models import build_model  # here: hpa.models (the package) imports this module's users
    meta = check_meta(checked.meta, where, inference=True)
    weights = checked.model_bytes()
    device = backend.device()
    try:
        # On the host: a first GPU allocation would create the CUDA context, whose address-space
        # reservation the budget is not meant for. The caller moves the model to its device.
        backend.use("cpu")
        with address_space_budget(budget_for(weights)):
            model = build_model(meta["model"], image_size=meta["image_size"], stains=meta.get("stains"),
                                **meta.get("model_options", {}))
    except MemoryError:
        raise HpaError(f"{where}: its meta asks for a {meta['model']} network at {meta['image_size']} px with "
                       f"options {quote(meta.get('model_options', {}), 120)}, far larger than the {weights} bytes "
                       f"of weights the file holds") from None
    except HpaError as error:
        raise HpaError(f"{where}: {error}") from None
    finally:
        backend.use(device)
    checked.check_fits(model, where)
    return model

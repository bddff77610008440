"""Everything a training run can check before the long work starts.

Generating the synthetic data and caching the images take minutes to hours,
so an unwritable output folder or a ``--resume`` checkpoint that belongs to
another configuration must be refused first, in one line:

    error: --resume runs/a/last.npz: the checkpoint was trained with --optimizer sgd, this run has adam

:func:`prepare_run` does those checks and only then creates the run folder,
so a refused run leaves no empty folder behind. The folder is never another
run's (:mod:`hpa.training.run_folder`); in a distributed run rank 0 chooses
it and tells the other ranks.
"""
import os
import tempfile

from hpa.data.cache.source import cache_root
from hpa.models.checkpoint import load_checkpoint
from hpa.models.checkpoint_meta import check_training_state
from hpa.runtime.errors import QUOTE_LIMIT, HpaError, quote
from hpa.training.run_folder import claim_run_folder
from minidl.distributed import SingleProcessGroup

# Options that shape the model's weights or the saved optimizer and schedule
# state: a checkpoint resumes only a run that agrees on all of them.
RESUME_MUST_MATCH = ("model", "model_options", "image_size", "optimizer", "schedule", "freeze_features")


def prepare_run(config, group=SingleProcessGroup()):
    """Check the resumed checkpoint and every folder the run writes; create the run folder.

    Returns the run folder (see :func:`hpa.training.run_folder.claim_run_folder`),
    chosen by rank 0 of ``group`` and broadcast to the others.
    """
    if config.resume:
        check_resumable(config)
    writable_folder(cache_root(config.cache_dir), "--cache-dir")
    out_dir = None
    if group.is_root:
        out_dir = claim_run_folder(config)
        writable_folder(out_dir, "--out")
    return group.broadcast_json(out_dir, what="broadcast of the run folder")


def check_resumable(config):
    """Raise HpaError saying which options differ between ``config`` and its ``--resume`` checkpoint."""
    _, meta, state = load_checkpoint(config.resume)
    if not isinstance(state, dict) or "optimizer" not in state:
        raise HpaError(f"--resume {config.resume}: holds no training state (give the run's last.npz)")
    check_training_state(state, f"--resume {config.resume}")
    if config.distributed and state.get("position"):
        raise HpaError(f"--resume {config.resume}: was saved within an epoch, which --distributed runs cannot "
                       f"continue; continue it without --distributed")
    saved = meta.get("config") or {key: meta.get(key) for key in ("model", "model_options", "image_size")}
    if not isinstance(saved, dict):
        raise HpaError(f"--resume {config.resume}: the checkpoint's config is not a JSON object")
    differences = [f"--{_flag(key)} {_show(saved.get(key))} (this run: {_show(getattr(config, key))})"
                   for key in RESUME_MUST_MATCH if key in saved and saved[key] != getattr(config, key)]
    if differences:
        raise HpaError(f"--resume {config.resume}: the checkpoint was trained with "
                       f"{'; '.join(differences)}; resume with the run's own options or start a new run")


def writable_folder(folder, option):
    """Create ``folder`` if needed and prove a file can be written in it, else HpaError naming ``option``."""
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise HpaError(f"{option} {folder}: cannot write there ({error.strerror})") from None


def _flag(key):
    return {"model_options": "model-option"}.get(key, key.replace("_", "-"))


def _show(value):
    """An option's value in words; one read from a checkpoint is cut if long."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, dict):
        text = ", ".join(f"{k}={v}" for k, v in value.items()) or "(none)"
    else:
        text = str(value)
    return text if len(text) <= QUOTE_LIMIT else quote(text)

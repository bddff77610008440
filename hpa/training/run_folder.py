"""Where a run writes: a folder that holds no other run.

    --out DIR            DIR if it is absent or empty. A folder holding files is refused
                         unless this run resumes from it, adds a fold not yet trained to
                         the K-fold run there, or ``--overwrite`` is given.
    --resume R/last.npz  R: the run continues in its own folder (the run's folder above
                         ``foldK/`` in K-fold runs).
    neither              ``runs/<model>-<YYYYmmdd-HHMMSS>``, created exclusively
                         (``exist_ok=False``): a run started in the same second as
                         another gets ``-2``, ``-3``, ...

A refusal is one line naming the folder and what to do instead. The outputs
of ``hpa.evaluate`` (a folder) and ``hpa.predict`` (a file) are guarded the
same way (:func:`check_output_folder`, :func:`check_output_file`).
"""
import datetime
import json
import os
import shutil

from hpa.runtime.errors import HpaError
from minidl.atomic import atomic_path

# A fold may join the K-fold run in --out only if the run agrees on what decides the folds and models.
KFOLD_MUST_MATCH = ("model", "folds", "seed", "data", "synthetic_n", "synthetic_size", "image_size")
MAX_SUFFIX = 1000


def output_folder(config):
    """``--out``, the resumed run's folder, or None (a new default folder is to be made)."""
    if config.out:
        return os.fspath(config.out)
    if config.resume:
        return resumed_run_folder(config)
    return None


def resumed_run_folder(config):
    """The folder of the run ``--resume`` continues: the checkpoint's, or above its ``foldK/``."""
    run_dir = os.path.dirname(os.path.abspath(config.resume))
    return os.path.dirname(run_dir) if config.folds else run_dir


def claim_run_folder(config):
    """The run's folder, made sure to be this run's (see the module docstring); HpaError if it is not."""
    out = output_folder(config)
    if out is None:
        return new_folder(os.path.join("runs", f"{config.model}-{time_stamp()}"))
    if not config.overwrite:
        check_free(config, out)
    return out


def time_stamp():
    """The start time in default folder names: ``YYYYmmdd-HHMMSS`` (one-second resolution)."""
    return datetime.datetime.now().strftime("%Y%m%d-%H%M%S")


def new_folder(base):
    """Create ``base`` (or ``base-2``, ``base-3``, ... if taken) exclusively; returns the one made."""
    try:
        os.makedirs(os.path.dirname(base) or ".", exist_ok=True)
        for k in range(1, MAX_SUFFIX + 1):
            path = base if k == 1 else f"{base}-{k}"
            try:
                os.mkdir(path)
                return path
            except FileExistsError:
                continue
    except OSError as error:
        raise HpaError(f"--out {base}: cannot write there ({error.strerror})") from None
    raise HpaError(f"--out {base}: {MAX_SUFFIX} folders of that name exist already; give --out")


def check_free(config, out):
    """Raise HpaError unless ``out`` is absent or empty, or this run may write into it."""
    if not holds_files(out):
        return
    if config.resume and os.path.realpath(out) == os.path.realpath(resumed_run_folder(config)):
        return
    saved = _saved_config(out)
    if config.folds and config.fold is not None and saved.get("folds"):
        differences = [key for key in KFOLD_MUST_MATCH if _normal(key, saved.get(key)) != _normal(key, getattr(
            config, key))]
        if differences:
            raise HpaError(f"--out {out}: holds a {saved['folds']}-fold run with another "
                           f"{', '.join('--' + key.replace('_', '-') for key in differences)}; add folds with "
                           f"that run's options, choose a new folder, or pass --overwrite")
        fold_dir = os.path.join(out, f"fold{config.fold}")
        if not holds_files(fold_dir):
            return
        raise HpaError(f"--out {out}: fold{config.fold} of this run is trained already; continue it with "
                       f"--resume {os.path.join(fold_dir, 'last.npz')}, or pass --overwrite to train it again")
    last = os.path.join(out, "last.npz")
    resume = f", continue its run with --resume {last}" if os.path.isfile(last) else ""
    raise HpaError(f"--out {out}: the folder is not empty; choose a new folder{resume}, or pass --overwrite "
                   f"to write over what is there")


def check_output_folder(out, overwrite, option="--out"):
    """HpaError if folder ``out`` holds files and ``overwrite`` is not set."""
    if holds_files(out) and not overwrite:
        raise HpaError(f"{option} {out}: the folder is not empty; choose a new folder, or pass --overwrite to "
                       f"write over what is there")


def check_output_file(out, overwrite, option="--out"):
    """HpaError if ``out`` is a folder, or an existing file and ``overwrite`` is not set."""
    if os.path.isdir(out):
        raise HpaError(f"{option} {out}: is a folder; give the path of the file to write")
    if os.path.lexists(out) and not overwrite:
        raise HpaError(f"{option} {out}: the file exists; choose another name, or pass --overwrite to replace it")


def holds_files(folder):
    """Whether ``folder`` is a folder with anything in it."""
    try:
        with os.scandir(folder) as entries:
            return any(True for _ in entries)
    except (FileNotFoundError, NotADirectoryError):
        return False


def _saved_config(out):
    """The ``config.json`` of the run in ``out`` as a dict ({} if none is readable)."""
    try:
        with open(os.path.join(out, "config.json"), encoding="utf-8") as f:
            saved = json.load(f)
    except (OSError, ValueError, RecursionError):
        return {}
    return saved if isinstance(saved, dict) else {}


def _normal(key, value):
    """``value`` of option ``key`` in a comparable form (data folders as absolute paths)."""
    if key == "data" and isinstance(value, (list, tuple)):
        return [os.path.abspath(os.fspath(v)) if isinstance(v, (str, os.PathLike)) else v for v in value]
    return value


def keep_best_beside(resumed, out_dir, trainer, write=True):
    """A run resumed into another folder than its checkpoint's keeps its best epoch there too.

    The end of a run reads ``best.npz`` of its own folder, and a resumed run
    writes one only when an epoch beats the checkpoint's best. So, unless the
    folder has one: the resumed run's ``best.npz`` and ``metrics.csv`` are
    copied from beside the checkpoint; failing that, a checkpoint written at
    the end of its best epoch is itself that epoch's weights; failing that,
    the run is refused before it trains. ``write``: False on ranks that do
    not write files.
    """
    here, source = os.path.abspath(out_dir), os.path.dirname(os.path.abspath(resumed))
    if os.path.exists(os.path.join(here, "best.npz")) or source == here:
        return
    best_epoch = trainer.stopper.best_epoch
    if os.path.exists(os.path.join(source, "best.npz")):
        for name in ("best.npz", "metrics.csv"):
            if write and os.path.exists(os.path.join(source, name)) and not os.path.exists(os.path.join(here, name)):
                with atomic_path(os.path.join(here, name)) as tmp:
                    shutil.copyfile(os.path.join(source, name), tmp)
    elif best_epoch == trainer.start_epoch - 1 and trainer.position is None:
        trainer.save("best.npz", best_epoch)  # every rank: a distributed save is collective
    elif best_epoch >= 0:
        raise HpaError(f"--resume {resumed}: its best epoch ({best_epoch + 1}) is not in this checkpoint and there "
                       f"is no best.npz beside it; resume into the checkpoint's own folder, or copy its run's "
                       f"best.npz into {out_dir}")


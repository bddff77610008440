"""One split of a training run: its rows, loaders, network, training loop and thresholds.

    config -> splits of the cached labels -> per split: train_one(...)
           -> best checkpoint, per-class thresholds, validation probabilities

The run around the splits (the data, the run folder, the fine-tuning stage,
the reports) is :mod:`hpa.training.pipeline`; each split's network comes
ready from :class:`hpa.training.network.SplitNetworks`.

Everything comes from one :class:`~hpa.training.config.TrainConfig`; the data
arrive as an opened image cache (``cache.images`` uint8 (N, 4, S, S),
``cache.labels`` uint8 (N, 28)).
"""
import dataclasses
import functools
import os

import numpy as np

from hpa.data.augmentation.names import one_of_named, parse_augment
from hpa.data.batches.device_batches import on_device
from hpa.data.batches.loader import BatchLoader, channel_stats
from hpa.data.batches.run_ahead import available_cores
from hpa.data.batches.sampling import oversample_indices
from hpa.data.batches.sharded_loader import ShardedBatchLoader
from hpa.data.batches.splits import holdout_split, kfold_split
from hpa.data.reading.labels import CLASS_NAMES
from hpa.evaluation.thresholds import save_thresholds, search_thresholds
from hpa.models.checkpoint import load_checkpoint, save_checkpoint
from hpa.models.stains import parse_stains
from hpa.runtime.errors import HpaError
from hpa.training.distributed import DistributedTrainer
from hpa.training.fine_tuning import stain_statistics
from hpa.training.run_folder import keep_best_beside
from hpa.training.trainer import Trainer
from minidl.distributed import SingleProcessGroup, shard


def splits(config, labels):
    """[(name, train_idx, val_idx)]: one stratified hold-out, or the selected K folds."""
    if not config.folds:
        train_idx, val_idx = holdout_split(labels, fraction=config.val_fraction, min_per_class=5, seed=config.seed)
        return [("", train_idx, val_idx)]
    folds = kfold_split(labels, k=config.folds, seed=config.seed)
    chosen = range(config.folds) if config.fold is None else [config.fold]
    return [(f"fold{k}", *folds[k]) for k in chosen]


def normalisation(cache, train_idx, seed, how="dataset"):
    """(mean, std, groups, meta entries): channel statistics of the training rows.

    ``how="imagenet"`` replaces the red, green and blue statistics by ImageNet's
    (:func:`hpa.training.fine_tuning.stain_statistics`), for pretrained backbones.

    One source: mean, std (4,). Several (a :class:`hpa.data.cache.union.UnionCache`):
    (G, 4), each source's from its own training rows, with ``groups`` (N,) the
    source of each row; the checkpoint's ``mean``/``std`` (used by ``hpa.predict``
    on a single folder) are the first source's, all of them are in ``source_stats``.
    """
    groups = getattr(cache, "groups", None)
    if groups is None:
        mean, std = stain_statistics(*channel_stats(cache.images, train_idx, seed=seed), how)
        return mean, std, None, {"mean": mean.tolist(), "std": std.tolist()}
    stats = []
    for k, (part, name) in enumerate(zip(cache.caches, cache.names)):
        rows = cache.local_rows(train_idx, k)
        if len(rows) == 0:
            raise HpaError(f"--data {name}: no training samples from this source in this split")
        stats.append(stain_statistics(*channel_stats(part.images, rows, seed=seed), how))
    mean, std = (np.stack(s) for s in zip(*stats))
    entries = [{"data": n, "mean": m.tolist(), "std": s.tolist()} for n, (m, s) in zip(cache.names, stats)]
    return mean, std, groups, {"mean": mean[0].tolist(), "std": std[0].tolist(), "source_stats": entries}


def train_one(config, cache, name, train_idx, val_idx, out_dir, networks, log=print, group=SingleProcessGroup()):
    """Train the next network of ``networks`` (a :class:`~hpa.training.network.SplitNetworks`) on one
    split; returns (validation probabilities, validation labels).

    With ``config.distributed``, this process is one rank of ``group``: it
    trains on its slice of every batch and validates its slice of the
    validation set (see :mod:`hpa.training.distributed`).
    """
    labels = cache.labels
    mean, std, groups, stats_meta = normalisation(cache, train_idx, config.seed, config.normalize)
    fit_idx = oversample_indices(labels, train_idx, min_count=config.oversample, seed=config.seed) \
        if config.oversample > 0 else train_idx
    workers = available_cores() if config.loader_workers is None else config.loader_workers
    common = dict(batch_size=config.batch_size, shuffle=True, seed=config.seed, mean=mean, std=std,
                  augment=parse_augment(config.augment), drop_last=len(fit_idx) > config.batch_size,
                  workers=workers)
    if config.distributed:  # TrainConfig.check refuses what the sharded loader cannot do
        train_loader = ShardedBatchLoader(cache.images, labels, fit_idx, rank=group.rank, world_size=group.size,
                                          **common)
    else:  # rows past len(train_idx) are the oversampled copies; they may get an augmentation of their own
        train_loader = BatchLoader(cache.images, labels, fit_idx, copy_augment=one_of_named(config.oversample_augment),
                                   copies_from=len(train_idx), groups=groups, **common)
    if config.device == "gpu":  # uint8 batches, augmented and normalised on the device where it can
        train_loader = on_device(train_loader)
    val_loader = BatchLoader(cache.images, labels, shard(val_idx, group.rank, group.size), batch_size=64,
                             shuffle=False, mean=mean, std=std, groups=groups, workers=workers)
    model = networks.take(group)  # seeded, on the device, --init loaded
    meta = {"model": config.model, "model_options": config.model_options, "image_size": config.image_size,
            "stains": list(parse_stains(config.stains)),
            **stats_meta, "class_names": list(CLASS_NAMES),
            "config": dataclasses.asdict(config), "split": name or "holdout"}
    trainer = (functools.partial(DistributedTrainer, group=group) if config.distributed else Trainer)(
        model, config, train_loader, val_loader, labels[val_idx], labels[fit_idx], out_dir, meta, device=config.device)
    if config.resume:
        epoch = trainer.resume(config.resume)
        keep_best_beside(config.resume, out_dir, trainer, write=group.is_root)
        log(f"resuming from {config.resume} at epoch {epoch + 1}")
    if config.distributed:
        trainer.broadcast_model()
        log(f"data-parallel on {group.size} ranks: global batch {config.batch_size}, "
            f"about {config.batch_size / group.size:.3g} samples per rank")
    n_params = sum(p.data.size for p in model.parameters())
    log(f"{config.model}: {n_params:,} parameters; {len(fit_idx)} training samples "
        f"({len(train_idx)} before oversampling), {len(val_idx)} validation samples, "
        f"{config.image_size} px")
    trainer.fit(log=log)

    # The best epoch's weights decide the thresholds and the final report.
    best = os.path.join(out_dir, "best.npz")
    state, meta, train_state = load_checkpoint(best)
    model.load_state_dict(state)
    _, probs = trainer.validate()
    thresholds = search_thresholds(probs, labels[val_idx], step=config.threshold_step)
    meta["thresholds"] = thresholds.tolist()
    if group.is_root:
        save_checkpoint(best, model, meta, train_state)
        save_thresholds(os.path.join(out_dir, "thresholds.json"), thresholds, CLASS_NAMES)
    return probs, labels[val_idx]

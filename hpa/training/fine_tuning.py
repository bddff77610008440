"""Fine-tuning a pretrained network: two stages, per-part learning rates, ImageNet statistics.

The two-stage schedule (as in Patil & Bandhu's DenseNet161 fine-tuning):

    epochs [0, head_epochs)        stage 1: features frozen (eval mode, no gradients),
                                   only the fresh head learns, at ``lr``
    epochs [head_epochs, epochs)   stage 2: the whole network learns at ``unfrozen_lr``
                                   (default lr / 10), the features optionally at their own
                                   ``backbone_lr``

A new head on pretrained features first learns from features that stay put;
training everything at once from the start would send the random head's
large early gradients into the pretrained weights. The optimizer holds two
parameter groups from the start, ``[features, head]``; frozen parameters
are skipped, and their optimizer state is created at their first update.

ImageNet statistics: torchvision's networks were trained on images normalised
with the ImageNet channel means and standard deviations. With
``normalize="imagenet"`` the red, green and blue stains use those (on the
0..255 scale), so the pretrained first layer sees inputs scaled as it was
trained on; the yellow stain, which ImageNet has not, keeps its data statistics.
``normalize="inception"`` does the same with the statistics timm's Inception
networks were trained with (mean 0.5, std 0.5: pixels scaled to [-1, 1]).
"""
import numpy as np

from hpa.runtime.errors import HpaError

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # R, G, B on the 0..1 scale
IMAGENET_STD = (0.229, 0.224, 0.225)
INCEPTION_MEAN = INCEPTION_STD = (0.5, 0.5, 0.5)
NORMALIZATIONS = ("dataset", "imagenet", "inception")
IMAGENET_PREFIX = "imagenet:"


def stain_statistics(mean, std, how):
    """Per-stain (mean, std) (4,) on the 0..255 scale: the data's, or ImageNet's (torchvision's or
    the Inception networks') for R, G, B."""
    mean, std = np.array(mean, dtype=np.float32), np.array(std, dtype=np.float32)
    if how in ("imagenet", "inception"):
        mean[:3] = np.multiply(IMAGENET_MEAN if how == "imagenet" else INCEPTION_MEAN, 255)
        std[:3] = np.multiply(IMAGENET_STD if how == "imagenet" else INCEPTION_STD, 255)
    return mean, std


def init_path(init):
    """(path, imported) of ``--init``: ``imagenet:FILE`` names an ``hpa.import_weights`` file."""
    if init and init.startswith(IMAGENET_PREFIX):
        return init[len(IMAGENET_PREFIX):], True
    return init, False


def param_groups(model):
    """[features group, head group]: the optimizer's groups, in this order."""
    return [{"params": model.features.parameters()}, {"params": model.head.parameters()}]


def stage_of(config, epoch):
    """1 while only the head trains, else 2 (also when there is no head-only stage)."""
    return 1 if epoch < config.head_epochs else 2


def enter_stage(model, optimizer, config, stage):
    """Freeze or unfreeze the features and set the groups' rates for ``stage``."""
    features, head = optimizer.param_groups
    if stage == 1:
        model.freeze_features()
        head["lr"] = config.lr
        return
    model.freeze_features(config.freeze_features)
    if config.head_epochs:  # the second stage of two: lower rates
        lr = config.unfrozen_lr if config.unfrozen_lr is not None else config.lr / 10
        head["lr"] = lr
        features["lr"] = config.backbone_lr if config.backbone_lr is not None else lr
    elif config.backbone_lr is not None:
        features["lr"] = config.backbone_lr


def check_fine_tuning(config):
    """Raise ``HpaError`` for impossible fine-tuning options (called by ``TrainConfig.check``)."""
    if config.normalize not in NORMALIZATIONS:
        raise HpaError(f"--normalize {config.normalize!r}: choose one of {', '.join(NORMALIZATIONS)}")
    if not isinstance(config.head_epochs, int) or not 0 <= config.head_epochs <= config.epochs:
        raise HpaError(f"--head-epochs must be between 0 and --epochs ({config.epochs}), got {config.head_epochs!r}")
    for name in ("unfrozen_lr", "backbone_lr"):
        value = getattr(config, name)
        if value is not None and not value > 0:
            raise HpaError(f"--{name.replace('_', '-')} must be positive, got {value}")
    if config.head_epochs and config.freeze_features:
        raise HpaError("--head-epochs and --freeze-features exclude each other: the second stage "
                       "trains the features")
    if config.head_epochs and not config.init and not config.resume:
        raise HpaError("--head-epochs needs --init (pretrained weights whose head is new)")

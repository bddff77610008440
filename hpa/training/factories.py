"""The loss, optimizer and learning-rate schedule a ``TrainConfig`` names."""
from hpa.training.loss_weights import class_weights, positive_weights
from minidl import losses, optim
from minidl.optim import schedules


def make_loss(config, train_labels):
    """The criterion named by ``config.loss``, weighted from the training labels (N, 28)."""
    if config.loss == "bce":
        return losses.BCEWithLogitsLoss()
    if config.loss == "weighted-bce":
        return losses.BCEWithLogitsLoss(weight=class_weights(train_labels, config.class_weight),
                                        pos_weight=positive_weights(train_labels, config.pos_weight,
                                                                     max_weight=config.pos_weight_cap))
    if config.loss == "focal":
        return losses.FocalLoss(gamma=config.focal_gamma)
    return losses.SoftF1Loss()


def make_optimizer(config, params):
    if config.optimizer == "sgd":
        return optim.SGD(params, lr=config.lr, momentum=config.momentum,
                         weight_decay=config.weight_decay, nesterov=config.momentum > 0)
    cls = optim.AdamW if config.optimizer == "adamw" else optim.Adam
    return cls(params, lr=config.lr, weight_decay=config.weight_decay)


def make_schedule(config, optimizer):
    """A schedule stepped once per epoch with the validation macro F1, or None."""
    if config.schedule == "step":
        return schedules.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)
    if config.schedule == "cosine":
        return schedules.CosineAnnealingLR(optimizer, T_max=config.epochs)
    if config.schedule == "plateau":
        return schedules.ReduceLROnPlateau(optimizer, mode="max", factor=config.gamma,
                                           patience=config.plateau_patience)
    return None

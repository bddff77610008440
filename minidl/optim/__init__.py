"""Optimizers, gradient clipping and learning-rate schedules.

    opt = Adam(model.parameters(), lr=1e-3)
    sched = ReduceLROnPlateau(opt, factor=0.5, patience=3)
    for epoch in ...:
        for x, y in batches:
            opt.zero_grad()
            loss = criterion(model(x), y)
            model.backward(criterion.backward())
            clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
        sched.step(val_loss)
"""
from minidl.optim.adam import Adam, AdamW
from minidl.optim.clip import clip_grad_norm_
from minidl.optim.optimizer import Optimizer
from minidl.optim.schedules import CosineAnnealingLR, LRScheduler, ReduceLROnPlateau, StepLR
from minidl.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "clip_grad_norm_",
           "LRScheduler", "StepLR", "CosineAnnealingLR", "ReduceLROnPlateau"]

"""Learning-rate schedules, with PyTorch's semantics.

A scheduler rewrites each param group's ``lr``; call its ``step()`` once per
epoch, after the epoch's optimizer steps::

    sched = CosineAnnealingLR(opt, T_max=30)
    for epoch in range(30):
        train_one_epoch(model, opt)
        sched.step()

``StepLR`` and ``CosineAnnealingLR`` are closed forms of the epoch count
``t = last_epoch`` and each group's initial rate ``η0`` (``base_lrs``).
``ReduceLROnPlateau`` reacts to a validation metric instead: ``step(metric)``;
the others accept and ignore one, so a loop can call ``step(metric)`` on any.
``state_dict()`` holds plain Python values; ``load_state_dict`` also puts the
saved rates back into the optimizer, so the order of restoring the optimizer
and the scheduler does not matter.
"""
import copy
import math
import numbers


class LRScheduler:
    """Base class: subclasses give the rate at epoch ``t`` in ``lr_at(t, base_lr)``."""

    def __init__(self, optimizer):
        if not hasattr(optimizer, "param_groups"):
            raise TypeError(f"optimizer must be a minidl optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        self.last_epoch = 0
        self._last_lr = list(self.base_lrs)

    def lr_at(self, t, base_lr):
        raise NotImplementedError(f"{type(self).__name__} has no lr_at")

    def step(self, metric=None):
        """Advance one epoch and set each group's rate.

        ``metric`` is ignored: it is accepted so that every schedule, including
        ``ReduceLROnPlateau``, is stepped the same way by a training loop.
        """
        self.last_epoch += 1
        self._set_lrs([self.lr_at(self.last_epoch, base) for base in self.base_lrs])

    def get_last_lr(self):
        """The rates last set, one per param group."""
        return list(self._last_lr)

    def _set_lrs(self, lrs):
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = list(lrs)

    def state_dict(self):
        return {k: copy.deepcopy(v) for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state):
        expected = set(self.state_dict())
        if set(state) != expected:
            raise ValueError(f"state dict keys {sorted(state)} do not fit {type(self).__name__}, "
                             f"which saves {sorted(expected)}")
        if len(state["_last_lr"]) != len(self.optimizer.param_groups):
            raise ValueError(f"state dict has {len(state['_last_lr'])} learning rates, the optimizer "
                             f"has {len(self.optimizer.param_groups)} param groups")
        self.__dict__.update(copy.deepcopy(state))
        self._set_lrs(self._last_lr)


class StepLR(LRScheduler):
    """``η_t = η0 γ^⌊t / step_size⌋``: multiply by ``gamma`` every ``step_size`` epochs."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        if not (isinstance(step_size, numbers.Integral) and step_size >= 1):
            raise ValueError(f"step_size must be a positive integer, got {step_size!r}")
        if not gamma > 0:
            raise ValueError(f"gamma must be > 0, got {gamma}")
        super().__init__(optimizer)
        self.step_size = step_size
        self.gamma = gamma

    def lr_at(self, t, base_lr):
        return base_lr * self.gamma ** (t // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """Half a cosine from ``η0`` down to ``eta_min`` over ``T_max`` epochs (Loshchilov
    & Hutter 2017, without restarts):

        η_t = η_min + (η0 - η_min) (1 + cos(π t / T_max)) / 2

    Past ``T_max`` the cosine climbs back up, as in PyTorch.
    """

    def __init__(self, optimizer, T_max, eta_min=0.0):
        if not (isinstance(T_max, numbers.Integral) and T_max >= 1):
            raise ValueError(f"T_max must be a positive integer, got {T_max!r}")
        if not eta_min >= 0:
            raise ValueError(f"eta_min must be >= 0, got {eta_min}")
        super().__init__(optimizer)
        self.T_max = T_max
        self.eta_min = eta_min

    def lr_at(self, t, base_lr):
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2


class ReduceLROnPlateau(LRScheduler):
    """Multiply the rate by ``factor`` when a metric stops improving.

    A metric ``a`` improves on the best so far when (``mode="min"``)
    ``a < best (1 - threshold)`` (``threshold_mode="rel"``) or
    ``a < best - threshold`` (``"abs"``); mirrored for ``mode="max"``. Each
    epoch that does not improve is a bad epoch; when there have been more than
    ``patience`` in a row, the rate becomes ``max(lr * factor, min_lr)`` and the
    count restarts after ``cooldown`` epochs in which bad epochs are not counted.
    So ``factor=0.5, patience=3`` halves the rate at the 4th epoch in a row
    without improvement, like PyTorch. Changes smaller than ``eps`` are skipped.
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", min_lr=0.0, cooldown=0, eps=1e-8):
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        if not 0 < factor < 1:
            raise ValueError(f"factor must be in (0, 1), got {factor}")
        for name, value in (("patience", patience), ("cooldown", cooldown)):
            if not (isinstance(value, numbers.Integral) and value >= 0):
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if not threshold >= 0:
            raise ValueError(f"threshold must be >= 0, got {threshold}")
        super().__init__(optimizer)
        n = len(optimizer.param_groups)
        min_lrs = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * n
        if len(min_lrs) != n or not all(m >= 0 for m in min_lrs):
            raise ValueError(f"min_lr must be >= 0, one number or one per param group ({n}), got {min_lr!r}")
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.min_lrs, self.cooldown, self.eps = min_lrs, cooldown, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def is_better(self, a):
        if self.mode == "min":
            bound = self.best * (1 - self.threshold) if self.threshold_mode == "rel" else self.best - self.threshold
            return a < bound
        bound = self.best * (1 + self.threshold) if self.threshold_mode == "rel" else self.best + self.threshold
        return a > bound

    def step(self, metric):
        """Record this epoch's ``metric`` (a number or a 0-d array) and maybe reduce."""
        current = float(metric)
        self.last_epoch += 1
        if self.is_better(current):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self._set_lrs([self._reduced(group["lr"], floor)
                           for group, floor in zip(self.optimizer.param_groups, self.min_lrs)])
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        else:
            self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _reduced(self, lr, floor):
        new = max(lr * self.factor, floor)
        return new if lr - new > self.eps else lr

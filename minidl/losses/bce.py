"""Binary cross-entropy on logits, and the sigmoid helpers the sigmoid losses share.

For a logit ``x`` and a target ``y`` in [0, 1], with ``σ(x) = 1 / (1 + e^-x)``,
PyTorch's ``BCEWithLogitsLoss`` computes, element by element,

    l = -w [ p y log σ(x) + (1 - y) log(1 - σ(x)) ]

where ``w`` (``weight``) rescales whole elements and ``p`` (``pos_weight``,
one per class, the last axis) rescales positive labels only. Both logarithms
come from one stable function, since ``1 - σ(x) = σ(-x)``:

    l = -w [ p y log σ(x) + (1 - y) log σ(-x) ]

and since ``d log σ(x)/dx = σ(-x)`` and ``d log σ(-x)/dx = -σ(x)``,

    dl/dx = w [ (1 - y) σ(x) - p y σ(-x) ]     (= w (σ(x) - y) when p = 1).

Written this way no term is a difference of two numbers close to 1, so a
well-classified element's tiny loss and gradient keep their relative
precision in float32 (``σ(x) - y`` computed directly would round to 0).

Shapes: logits and targets (N, C) (any shape, the same for both); ``weight``
broadcastable to it, e.g. (C,) per class; ``pos_weight`` (C,).
"""
from minidl import backend
from minidl.kernels import device_training


def log_sigmoid(x):
    """``log σ(x)`` for any ``x`` without overflow.

    ``log σ(x) = -log(1 + e^-x) = min(x, 0) - log(1 + e^-|x|)``: the exponent is
    never positive, so ``x = ±1e4`` gives ``-1e4`` and ``0`` with no warning.
    """
    xp = backend.get_array_module(x)
    return xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x)))


def sigmoid(x):
    """``σ(x)`` as ``exp(log σ(x))``: no overflow for large negative ``x``."""
    return backend.get_array_module(x).exp(log_sigmoid(x))


def as_targets(targets, logits):
    """``targets`` on the logits' device and in their dtype, checked for shape."""
    targets = backend.get_array_module(logits).asarray(targets, dtype=logits.dtype)
    if targets.shape != logits.shape:
        raise ValueError(f"targets has shape {tuple(targets.shape)}, expected the logits' "
                         f"shape {tuple(logits.shape)}")
    return targets


class LazyConstant:
    """A constant array (class weights) moved to the logits' device and dtype on
    first use and cached, so a float32 GPU run copies it once, not every batch."""

    def __init__(self, value, name):
        self.host = backend.to_numpy(value)
        self.name = name
        self._key, self._array = None, None

    def like(self, logits, broadcast_to=None):
        key = (backend.is_device_array(logits), logits.dtype)
        if key != self._key:
            xp = backend.get_array_module(logits)
            self._key, self._array = key, xp.asarray(self.host, dtype=logits.dtype)
        shape = tuple(logits.shape) if broadcast_to is None else broadcast_to
        if not _broadcasts(tuple(self._array.shape), shape):
            raise ValueError(f"{self.name} has shape {tuple(self._array.shape)}, which does not "
                             f"broadcast to {shape}")
        return self._array


def _broadcasts(shape, target):
    """True if an array of ``shape`` broadcasts to exactly ``target``."""
    if len(shape) > len(target):
        return False
    return all(s in (1, t) for s, t in zip(shape[::-1], target[::-1]))


class BCEWithLogitsLoss:
    """Sigmoid cross-entropy on logits with PyTorch's semantics (see the module doc).

    ``reduction="mean"`` divides by the number of elements (not by the weights'
    sum), ``"sum"`` adds them up. ``forward`` returns a Python float;
    ``backward()`` returns dLoss/dlogits with the logits' shape, dtype and device.
    """

    def __init__(self, weight=None, pos_weight=None, reduction="mean"):
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        self.weight = None if weight is None else LazyConstant(weight, "weight")
        self.pos_weight = None if pos_weight is None else LazyConstant(pos_weight, "pos_weight")
        self.reduction = reduction
        self._cache = None

    def forward(self, logits, targets):
        if backend.is_device_array(logits):  # GPU: loss and gradient in one kernel (minidl/kernels/bce.cu)
            loss, grad = device_training.bce_with_logits(self, logits, targets)
            self._cache = (grad,)
            return loss
        xp = backend.get_array_module(logits)
        y = as_targets(targets, logits)
        pos = y if self.pos_weight is None else self.pos_weight.like(logits, logits.shape[-1:]) * y
        w = 1.0 if self.weight is None else self.weight.like(logits)
        loss = -w * (pos * log_sigmoid(logits) + (1 - y) * log_sigmoid(-logits))
        scale = 1.0 / logits.size if self.reduction == "mean" else 1.0
        self._cache = (logits, y, pos, w, scale)
        return float(xp.sum(loss)) * scale

    def backward(self):
        if self._cache is None:
            raise RuntimeError("BCEWithLogitsLoss.backward called before forward")
        if len(self._cache) == 1:  # the GPU kernel computed the gradient with the loss
            return self._cache[0]
        logits, y, pos, w, scale = self._cache
        return (w * scale) * ((1 - y) * sigmoid(logits) - pos * sigmoid(-logits))

    __call__ = forward

"""``Loss``: the base class of the losses, as ``Module`` is of the layers.

A loss is called as ``loss = criterion(logits, targets)`` and returns a Python
float (``to_float=False``: possibly a 0-d device array, see ``Loss.forward``); ``criterion.backward()`` then returns dLoss/dlogits with the logits'
shape, dtype and device. The math is an op of ``minidl/ops`` (its reference
is the file to read); the class around it does the bookkeeping every loss
shares:

- it checks and converts the targets (``prepare_targets``) and keeps class
  weights as ``LazyConstant``s, moved to the logits' device and dtype once;
- it asks ``minidl.ops`` for the implementation of its op on the logits'
  device (the fused CUDA kernel, or the reference), keeps it with what its
  forward saved, and calls the same implementation's backward;
- it refuses a ``backward`` before any ``forward``.

A subclass names its op (``op``), gives the op's hyper-parameters for a call
(``hyper``) and, if its targets are not per-element, ``prepare_targets``.
"""
from minidl import backend, ops

REDUCTIONS = ("mean", "sum")


def check_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    return reduction


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
        xp = backend.get_array_module(logits)
        key = (xp, logits.dtype)
        if key != self._key:
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


class Loss:
    """Subclasses set ``op`` (an op name of ``minidl.ops``), ``hyper(logits)`` and,
    for logits that must be (batch, classes), ``matrix_logits = True``."""

    op = None
    matrix_logits = False

    def __init__(self):
        self._cache = None  # (implementation, saved, hyper) of the last forward

    def hyper(self, logits):
        """The op's hyper-parameters for these logits (constants on their device)."""
        return {}

    def prepare_targets(self, targets, logits):
        return as_targets(targets, logits)

    def forward(self, logits, targets, *, to_float=True):
        """The loss of ``logits`` against ``targets``: a Python float, or with ``to_float=False``
        as the op's implementation gave it, which on a GPU may be a 0-d device array (the
        fused BCE kernel's): a training loop keeps it there and reads it only to log it,
        so the step never waits for the device."""
        if self.matrix_logits and logits.ndim != 2:
            raise ValueError(f"logits must be (batch, classes), got shape {tuple(logits.shape)}")
        targets = self.prepare_targets(targets, logits)
        hyper = self.hyper(logits)
        impl = ops.implementation(self.op, logits, **hyper)
        loss, saved = impl.forward(logits, targets, **hyper)
        self._cache = (impl, saved, hyper)
        return float(loss) if to_float else loss

    def backward(self):
        """dLoss/dlogits of the last ``forward``."""
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        impl, saved, hyper = self._cache
        return impl.backward(saved, **hyper)

    def __call__(self, logits, targets, *, to_float=True):
        return self.forward(logits, targets, to_float=to_float)

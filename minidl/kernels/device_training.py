"""The GPU implementations of two training ops, one fused kernel each:

- ``adam`` (Adam and AdamW): ``FusedAdam.update`` launches ``adam.cu``, which
  reads and writes each element once where the reference takes ten passes;
- ``bce_with_logits``: ``FusedBCEWithLogits.forward`` launches ``bce.cu``,
  which computes the loss and its gradient in one pass; backward returns it.
  The loss comes back as a 0-d device array, not a float: no synchronisation.

They register as the ``"gpu"`` implementations of their ops
(``minidl.ops.registry``): the loss and the optimizer call them through
``ops.implementation`` on device arrays. They take arrays and
hyper-parameters only, with the signatures of the references
(``minidl/ops/adam.py``, ``minidl/ops/bce_with_logits.py``), whose math they
follow: the step constants are computed on the host exactly as there.
"""
import numpy

from minidl import backend
from minidl.kernels.launch import address, launch
from minidl.ops import registry
from minidl.ops.adam import start_step, step_scalars
from minidl.ops.bce_with_logits import reduction_scale


def _scalars(t, lr, betas, eps, weight_decay, decoupled):
    """The kernels' ten step constants, computed on the host as the reference does."""
    b1, b2 = betas
    rate, correction2 = step_scalars(t, lr, betas)
    return (b1, 1 - b1, b2, 1 - b2, eps, 0.0 if decoupled else weight_decay,
            1 - lr * weight_decay if decoupled else 1.0, rate, correction2)


class FusedAdam:
    """The ``adam`` op on a device: kernel ``adam_update``, one thread per element; and
    ``update_many``, a whole parameter group in one launch (``adam_update_many``)."""

    # Pointer tables already on the device, by the addresses they hold: a group's arrays stay
    # where they are from step to step, so its tables cross to the device once, not per step
    # (a copy from the host would make the step wait for the device).
    _tables = {}

    @staticmethod
    def supports(param, **hyper):
        return param.flags.c_contiguous  # the kernel indexes flat memory

    @staticmethod
    def update(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
        """One Adam (``decoupled``: AdamW) step of ``param`` in place, as the reference's ``update``."""
        xp = backend.get_array_module(param)
        t = start_step(param, state)
        grad = xp.ascontiguousarray(grad, dtype=param.dtype)
        launch("adam_update", param.size, param, grad, state["exp_avg"], state["exp_avg_sq"], param.size,
               *_scalars(t, lr, betas, eps, weight_decay, decoupled))

    @classmethod
    def update_many(cls, params, grads, states, **hyper):
        """``update`` of every (param, grad, state) in one launch: the same results, one launch per
        group instead of one per tensor. Tensors the single kernel cannot take together (another
        dtype or step count, non-contiguous memory) are updated one by one instead."""
        arrays = [(p, g, s) for p, g, s in zip(params, grads, states) if p.size]
        if not arrays:
            return
        steps = {s.get("step", 0) for _, _, s in arrays}
        if len(steps) > 1 or any(g.dtype != p.dtype or not (p.flags.c_contiguous and g.flags.c_contiguous)
                                 for p, g, _ in arrays):
            for p, g, s in arrays:  # each by the implementation the table picks for it, as Optimizer does
                registry.implementation("adam", p, **hyper).update(p, g, s, **hyper)
            return
        t = [start_step(p, s) for p, _, s in arrays][0]
        columns = [[p for p, _, _ in arrays], [g for _, g, _ in arrays],
                   [s["exp_avg"] for _, _, s in arrays], [s["exp_avg_sq"] for _, _, s in arrays]]
        starts = [0]
        for p in columns[0]:
            starts.append(starts[-1] + p.size)
        tables = cls._device_tables([[address(a) for a in column] for column in columns] + [starts], columns[0][0])
        launch("adam_update_many", starts[-1], *tables, len(arrays), starts[-1],
               *_scalars(t, **hyper), precision=columns[0][0].dtype.name)

    @classmethod
    def _device_tables(cls, rows, like):
        """The int64 tables ``rows`` on ``like``'s device, from the cache when already there."""
        key = (type(like), tuple(map(tuple, rows)))
        if key not in cls._tables:
            if len(cls._tables) >= 16:  # a bound: groups come and go (fine-tuning stages)
                cls._tables.pop(next(iter(cls._tables)))
            xp = backend.get_array_module(like)
            cls._tables[key] = [xp.asarray(numpy.asarray(row, dtype=numpy.int64)) for row in rows]
        return cls._tables[key]


def _per_class_or_element(xp, w, shape):
    """(mode, contiguous array) for the kernel: 1 one value per class (last axis), 2 one per element."""
    if w.ndim >= 1 and w.shape[-1] == shape[-1] and all(d == 1 for d in w.shape[:-1]):
        return 1, xp.ascontiguousarray(w.reshape(-1))
    return 2, xp.ascontiguousarray(xp.broadcast_to(w, shape))


class FusedBCEWithLogits:
    """The ``bce_with_logits`` op on a device: kernel ``bce_with_logits`` writes each
    element's loss and gradient; CuPy's own reduction sums the loss."""

    @staticmethod
    def forward(logits, targets, weight=None, pos_weight=None, reduction="mean"):
        """(loss, saved = dLoss/dlogits), as the reference's ``forward``, but the loss stays a 0-d array
        on the device: reading it is a host synchronisation, left to whoever logs it."""
        xp = backend.get_array_module(logits)
        x = xp.ascontiguousarray(logits)
        y = xp.ascontiguousarray(targets, dtype=x.dtype)
        classes = x.shape[-1] if x.ndim else 1
        dummy = x  # stands for an absent weight array, never read (a fresh array would cost a launch)
        weight_mode, w = 0, dummy
        if weight is not None:
            weight_mode, w = _per_class_or_element(xp, xp.asarray(weight, dtype=x.dtype), x.shape)
        pos = dummy
        if pos_weight is not None:
            pos = xp.ascontiguousarray(xp.broadcast_to(xp.asarray(pos_weight, dtype=x.dtype), (classes,)))
        scale = reduction_scale(x, reduction)
        loss, grad = xp.empty_like(x), xp.empty_like(x)
        launch("bce_with_logits", x.size, x, y, w, weight_mode, pos, int(pos_weight is not None),
               x.size, classes, scale, loss, grad)
        return xp.sum(loss) * scale, grad

    @staticmethod
    def backward(saved, weight=None, pos_weight=None, reduction="mean"):
        """The gradient the forward kernel computed."""
        return saved


registry.register("adam", device="gpu", name="cuda_fused", impl=FusedAdam)
registry.register("bce_with_logits", device="gpu", name="cuda_fused", impl=FusedBCEWithLogits)

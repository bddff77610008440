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
from minidl import backend
from minidl.kernels.launch import launch
from minidl.ops import registry
from minidl.ops.adam import start_step, step_scalars
from minidl.ops.bce_with_logits import reduction_scale


class FusedAdam:
    """The ``adam`` op on a device: kernel ``adam_update``, one thread per element."""

    @staticmethod
    def supports(param, **hyper):
        return param.flags.c_contiguous  # the kernel indexes flat memory

    @staticmethod
    def update(param, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
        """One Adam (``decoupled``: AdamW) step of ``param`` in place, as the reference's ``update``."""
        xp = backend.get_array_module(param)
        t = start_step(param, state)
        b1, b2 = betas
        rate, correction2 = step_scalars(t, lr, betas)
        grad = xp.ascontiguousarray(grad, dtype=param.dtype)
        launch("adam_update", param.size, param, grad, state["exp_avg"], state["exp_avg_sq"], param.size,
               b1, 1 - b1, b2, 1 - b2, eps,
               0.0 if decoupled else weight_decay, 1 - lr * weight_decay if decoupled else 1.0,
               rate, correction2)


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

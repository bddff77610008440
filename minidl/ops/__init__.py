"""minidl's operations: one file of math per op, and the table that picks who computes it.

Each module of this package is the REFERENCE of one op: its math docstring with
shapes and pure functions of arrays, written against ``xp =
backend.get_array_module(x)`` so the same lines run on NumPy and CuPy, with no
chunking, workspaces or layout tricks. Read these first. Faster
implementations of the same functions live in ``minidl/fast_cpu`` (host
arrays) and ``minidl/kernels`` (CUDA, device arrays) and register for an op in
``registry``; ``python -m minidl.ops`` prints the table, ``--check`` checks it.

Calling conventions (an implementation exposes the reference's functions with
the same signatures; every function accepts, and ignores, hyperparameters it
does not use, so a caller passes one ``hyper`` dict to both directions):

    layer-like ops   forward(x, *params, **hyper) -> (y, saved)
                     backward(dy, saved, **hyper) -> (dx, dparam1, ...), None for a
                     gradient not needed (a first layer's dx: ``input_grad=False``)
    losses           forward(logits, targets, **hyper) -> (loss, saved), loss a Python float or
                     a 0-d array on the logits' device (a GPU kernel's: no synchronisation)
                     backward(saved, **hyper) -> dlogits
    optimizer ops    update(param, grad, state, **hyper) -> None  (in place; state a dict)

``saved`` is opaque: only the backward of the implementation that made it reads
it, so a caller keeps the implementation it used in forward::

    impl = ops.implementation("conv2d", x, stride=(1, 1), padding=(1, 1))
    y, saved = impl.forward(x, weight, bias, stride=(1, 1), padding=(1, 1))
    dx, dweight, dbias = impl.backward(dy, saved, stride=(1, 1), padding=(1, 1))

``MINIDL_IMPL=reference`` (environment, read at each lookup) or ``with
ops.reference_only():`` make every op run its reference, on the CPU and the GPU.
"""
from minidl.ops import registry
from minidl.ops.registry import Case, define, implementation, reference, reference_only, register

__all__ = ["Case", "define", "implementation", "reference", "reference_only", "register", "registry"]

"""Fast CPU implementations of minidl's ops, one file per trick.

Each module registers itself for an op on ``"cpu"`` (``minidl.ops.registry``)
and exposes the same functions as the op's reference in ``minidl/ops``; its
docstring explains the trick and the gain measured for it. The references are
the math; these are the same math arranged for NumPy, OpenBLAS and the caches.
``MINIDL_IMPL=reference`` turns them all off.
"""

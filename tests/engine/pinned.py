"""``pinned(op, impl)``: inside the block op ``op`` runs ``impl`` (one of its implementations)
whatever the ops table or MINIDL_IMPL would pick, so a layer test can aim at one fast path."""
import contextlib

from minidl import ops


@contextlib.contextmanager
def pinned(op_name, impl):
    original = ops.implementation

    def pick(name, x, **hyper):
        return impl if name == op_name else original(name, x, **hyper)

    ops.implementation = pick
    try:
        yield impl
    finally:
        ops.implementation = original

"""``no_grad``: run forward passes that keep nothing for a backward pass.

Training needs every layer to remember its input (or a mask, or an argmax)
until ``backward``; validation and prediction do not, and for a large network
at 512 px those activations are most of the memory a forward pass takes::

    with md.no_grad():
        logits = model(x)        # layers keep no cache; activations are freed as it goes
    model.backward(dy)           # RuntimeError: nothing was kept for backward

Layers store their backward state through ``Module.save_for_backward`` and
read it through ``Module.saved``, which is where this switch takes effect.
"""
import contextlib

_enabled = True


def is_grad_enabled():
    """Whether forward passes keep what ``backward`` needs (True outside ``no_grad``)."""
    return _enabled


@contextlib.contextmanager
def no_grad():
    """Context in which layers keep no cache for backward (nests; restores on exit)."""
    global _enabled
    previous, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = previous

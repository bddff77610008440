"""Dropout layers; both are the identity in eval mode (returning a copy: no
module's output aliases its input). Any input shape. The math, and the keep
mask drawn from ``minidl.rng``, are in ``minidl/ops/dropout.py`` and ``alpha_dropout.py``.
"""
from minidl.layers.op_layer import OpLayer
from minidl.ops import alpha_dropout


def _check_p(p):
    if not 0 <= p < 1:
        raise ValueError(f"p must be in [0, 1), got {p!r}")
    return float(p)


class Dropout(OpLayer):
    """Inverted dropout: zero each element with probability p, scale the rest by 1/(1-p)."""

    op = "dropout"

    def __init__(self, p=0.5):
        super().__init__()
        self.p = _check_p(p)

    def hyper(self):
        return dict(p=self.p, training=self.training)

    def extra_repr(self):
        return f"p={self.p}"


class AlphaDropout(Dropout):
    """Dropout for SELU networks: dropped units saturate, then an affine map keeps mean and variance."""

    op = "alpha_dropout"
    saturation = alpha_dropout.SATURATION

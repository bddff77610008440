"""``SoftF1Loss``: one minus the macro F1 of soft counts (probabilities instead
of decisions), so that F1 itself can be trained for.

The math and its derivative are the op's reference, ``minidl/ops/soft_f1.py``.
Shapes: logits and targets (N, C); F1 is computed per class over the batch.
"""
from minidl.losses.loss import Loss


class SoftF1Loss(Loss):
    """``1 - mean_c softF1_c``; ``forward`` returns a Python float."""

    op = "soft_f1"
    matrix_logits = True

    def __init__(self, eps=1e-7):
        if not eps > 0:
            raise ValueError(f"eps must be > 0 (it keeps an empty class from dividing by 0), got {eps}")
        super().__init__()
        self.eps = eps

    def hyper(self, logits):
        return dict(eps=self.eps)

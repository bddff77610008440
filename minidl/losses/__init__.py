"""Loss functions: ``loss = L(logits, targets)`` returns a float, ``L.backward()``
returns dLoss/dlogits.

Sigmoid losses for multi-label tasks (one independent yes/no per class):
``BCEWithLogitsLoss``, ``FocalLoss``, ``SoftF1Loss``. Softmax loss for
single-label tasks: ``CrossEntropyLoss``. Each is a thin ``Loss`` (``loss.py``)
around an op whose math lives in ``minidl/ops``.
"""
from minidl.losses.bce import BCEWithLogitsLoss, log_sigmoid, sigmoid
from minidl.losses.cross_entropy import CrossEntropyLoss
from minidl.losses.focal import FocalLoss
from minidl.losses.loss import Loss
from minidl.losses.soft_f1 import SoftF1Loss

__all__ = ["BCEWithLogitsLoss", "CrossEntropyLoss", "FocalLoss", "Loss", "SoftF1Loss", "log_sigmoid", "sigmoid"]

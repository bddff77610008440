"""Loss functions: ``loss = L(logits, targets)`` returns a float, ``L.backward()``
returns dLoss/dlogits.

Sigmoid losses for multi-label tasks (one independent yes/no per class):
``BCEWithLogitsLoss``, ``FocalLoss``, ``SoftF1Loss``. Softmax loss for
single-label tasks: ``CrossEntropyLoss``.
"""
from minidl.losses.bce import BCEWithLogitsLoss, log_sigmoid, sigmoid
from minidl.losses.cross_entropy import CrossEntropyLoss
from minidl.losses.focal import FocalLoss
from minidl.losses.soft_f1 import SoftF1Loss

__all__ = ["BCEWithLogitsLoss", "CrossEntropyLoss", "FocalLoss", "SoftF1Loss", "log_sigmoid", "sigmoid"]

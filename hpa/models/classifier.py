"""``Classifier``: the shape every hpa network shares, images -> features -> logits.

    x (N, C, S, S) --features--> f (a feature map or vector) --head--> logits (N, num_classes)

``features`` is the convolutional part, ``head`` the dense part; both are real
sub-modules built once in ``__init__``, so ``model.features.parameters()`` are
the very Parameters the model trains. ``forward``/``backward`` are the chain
rule through the two.

``freeze_features()`` turns the model into a fine-tuning one: the features'
parameters stop receiving updates (``requires_grad = False``), the features
run in eval mode (running batch-norm statistics, no dropout) even when the
model trains, their forward keeps nothing for backward, and ``backward``
stops at the head, returning ``None`` because no input gradient is computed.

A subclass assigns ``self.features`` and ``self.head`` in its ``__init__``
(and ``self.expected_input``, the (channels, image side) it was built for).
One that must keep other parameter names (ResNet keeps torchvision's
``conv1``, ``layer1``, ..., ``fc``) registers its layers under those names and
calls ``share_parts(features, head)``: the two are then plain attributes over
the same layer objects, so names stay torchvision's and nothing is counted twice.
"""
from minidl import no_grad
from minidl.module import Module


class Classifier(Module):
    def __init__(self):
        super().__init__()
        self.features_frozen = False

    def share_parts(self, features, head):
        """Hold ``features`` and ``head`` without registering them (their layers are registered)."""
        object.__setattr__(self, "features", features)
        object.__setattr__(self, "head", head)

    def forward(self, x):
        if self.features_frozen:
            with no_grad():
                x = self.features(x)
            return self.head(x)
        return self.head(self.features(x))

    def backward(self, dy):
        dy = self.head.backward(dy)
        return None if self.features_frozen else self.features.backward(dy)

    def cam_layers(self):
        """[(name, layer)]: the layers whose outputs (N, K, h, w) Grad-CAM explains
        (:mod:`hpa.evaluation.gradcam`); by default the output of ``features``."""
        return [("features", self.features)]

    def freeze_features(self, frozen=True):
        """Fine-tune the head only (see the module docstring); ``frozen=False`` undoes it."""
        for p in self.features.parameters():
            p.requires_grad = not frozen
        self.features_frozen = bool(frozen)
        return self.train(self.training)

    def train(self, mode=True):
        super().train(mode)
        if self.features_frozen:
            self.features.eval()
        return self

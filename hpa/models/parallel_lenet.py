"""Parallel LeNet: one small LeNet per reference stain, each paired with the protein stain.

An HPA image has four stains: red (microtubules), green (the protein of
interest), blue (nucleus) and yellow (endoplasmic reticulum). A location is
defined *relative* to the reference structures, so instead of mixing all four
stains in the first convolution, each branch sees the green channel together
with one reference channel and learns how the protein relates to it. The three
branch codes are merged only in the dense layers.

Shapes for N images at the default 128 px (widths ``conv_channels=(16, 32)``,
``branch_features=128``, ``hidden=(256, 128)``)::

    x                                     (N, 4, 128, 128)  red, green, blue, yellow
    features  (3 branches, shared input):
      ChannelSelect (ref, green)          (N, 2, 128, 128)
      Conv 5x5 pad 2, MaxPool 2           (N, 16, 64, 64)
      BatchNorm, ReLU                     (N, 16, 64, 64)
      Conv 5x5 pad 2, MaxPool 2           (N, 32, 32, 32)
      BatchNorm, ReLU, Flatten            (N, 32768)
      three branches concatenated         (N, 98304)
    head:
      per-branch Linear + ReLU            (N, 3 * 128 = 384)
      Dropout, Linear + ReLU              (N, 256)
      Dropout, Linear + ReLU              (N, 128)
      Dropout, Linear                     (N, 28)          logits

Order inside a branch: convolution, max pooling, batch norm, ReLU. Pooling
first lets batch norm and ReLU work on a quarter of the values; max pooling
commutes with ReLU (both are monotone), so only the position of batch norm is
a real choice, and its statistics then describe the pooled maps the next
convolution actually reads. The convolutions have no bias: batch norm
subtracts the per-channel mean, which would cancel it. The first ones read
the data, whose gradient nobody uses, so they skip it (``input_grad=False``):
``backward`` returns None.

Input size. The network is meant for 128 px inputs. Images cached at 128 px
need no pooling (``input_pool=1``, the default). To feed raw 512 px images,
pass ``input_pool=4`` (with ``image_size=512``): the features then start with
a 4x4 mean pooling, which is exactly what area-resizing 512 -> 128 computes
(each output pixel is the mean of a 4x4 block), so a model trained on the
128 px cache runs unchanged on full images. The pooling has no parameters, so
the parameter names, and hence checkpoints, are the same for every
``input_pool``.

The 98304 -> 384 per-branch dense layer sits in the head, not in
``features``: ``features`` is the convolutional part only, which a
fine-tuning stage may freeze.

Trained with a weighted sigmoid cross-entropy (BCE on the 28 logits with a
per-class weight on the positive term, for the rare classes); the model itself
outputs raw logits.
"""

from hpa.models.classifier import Classifier
from minidl.layers import (
    AvgPool2d,
    BatchNorm2d,
    ChannelSelect,
    ColumnSplit,
    Concat,
    Conv2d,
    Dropout,
    Flatten,
    Linear,
    MaxPool2d,
    ReLU,
    Sequential,
)

RED, GREEN, BLUE, YELLOW = 0, 1, 2, 3
REFERENCE_CHANNELS = (RED, BLUE, YELLOW)


class PooledConcat(Concat):
    """A ``Concat`` whose branches all read the input after one shared k x k mean pooling.

    x (N, C, H, W) -> AvgPool k -> (N, C, H/k, W/k) -> each branch -> concatenated.
    With k = 1 there is no pooling at all.
    """

    def __init__(self, pool, *branches):
        super().__init__(*branches)
        self.pool = AvgPool2d(pool) if pool > 1 else None

    def forward(self, x):
        return super().forward(x if self.pool is None else self.pool(x))

    def backward(self, dy):
        dx = super().backward(dy)  # None: the branches compute no input gradient
        return dx if self.pool is None or dx is None else self.pool.backward(dx)


def lenet_branch(reference, conv_channels):
    """One branch: (N, 4, S, S) -> (N, c2 * (S/4)^2) from the (reference, green) pair."""
    c1, c2 = conv_channels
    return Sequential(
        ChannelSelect((reference, GREEN)),
        Conv2d(2, c1, 5, padding=2, bias=False, input_grad=False), MaxPool2d(2), BatchNorm2d(c1), ReLU(),
        Conv2d(c1, c2, 5, padding=2, bias=False), MaxPool2d(2), BatchNorm2d(c2), ReLU(),
        Flatten(),
    )


class ParallelLeNet(Classifier):
    """Three LeNet branches (red+green, blue+green, yellow+green) merged by dense layers.

    ``image_size`` is the side of the images given to the model; it must be a
    multiple of ``4 * input_pool`` (two 2x2 poolings after the input pooling).
    ``dropout`` is applied before each of the three merging Linear layers. Its
    default, 0.2, is lighter than the classic 0.5: with three dropout layers in
    a row, 0.5 slowed learning so much that a short CPU run on the synthetic
    data barely moved past a constant predictor (measured: validation AUC of
    class 0 at 0.90 after 3 epochs with 0.5 against 0.98 with no dropout).
    """

    def __init__(self, num_classes=28, in_channels=4, image_size=128, input_pool=1,
                 conv_channels=(16, 32), branch_features=128, hidden=(256, 128), dropout=0.2):
        super().__init__()
        if in_channels != 4:
            raise ValueError(f"ParallelLeNet needs the 4 HPA stains (red, green, blue, yellow), "
                             f"got in_channels={in_channels}")
        if image_size % (4 * input_pool):
            raise ValueError(f"image_size must be a multiple of 4 * input_pool = {4 * input_pool}, "
                             f"got {image_size}")
        self.expected_input = (in_channels, image_size)
        side = image_size // input_pool // 4
        flat = conv_channels[1] * side * side
        self.features = PooledConcat(input_pool, *(lenet_branch(r, conv_channels)
                                                   for r in REFERENCE_CHANNELS))
        layers = [ColumnSplit(*(Sequential(Linear(flat, branch_features), ReLU())
                                for _ in REFERENCE_CHANNELS))]
        width = branch_features * len(REFERENCE_CHANNELS)
        for h in hidden:
            layers += [Dropout(dropout), Linear(width, h), ReLU()]
            width = h
        layers += [Dropout(dropout), Linear(width, num_classes)]
        self.head = Sequential(*layers)

    def cam_layers(self):
        """Each branch's last ReLU (N, c2, S/4, S/4), before flattening: one map per reference stain."""
        names = {RED: "red+green", BLUE: "blue+green", YELLOW: "yellow+green"}
        return [(names[r], branch[-2]) for r, branch in zip(REFERENCE_CHANNELS, self.features.branches)]

"""M-CNN (Godinez et al. 2017): one small convolutional path per image scale.

Phenotypes in microscopy images live at different scales: nuclear speckles
are a few pixels wide, the cytoskeleton spans the whole cell. M-CNN looks at
the same image at several resolutions (1, 1/2, 1/4, ...), each through its
own three convolutions, so a 3x3 kernel covers a few pixels in the full-size
path and a whole cell in the coarsest one. The paths are max pooled to one
common grid, stacked along channels, mixed by a 1x1 convolution, and a dense
layer classifies.

Here a path is: average pooling by its scale factor s (none for s = 1), three
3x3 convolutions (each with batch norm and ReLU), then max pooling down to the
grid of the coarsest path, image_size / max(scales). Shapes for N images at
the default 128 px, ``scales=(1, 2, 4, 8, 16)``, ``width=32``,
``merge_channels=64``::

    x                                              (N, 4, 128, 128)
    features:
      path s (5 of them, Concat):
        AvgPool s                                  (N, 4, 128/s, 128/s)
        3 x [conv 3x3, BN, ReLU]                   (N, 32, 128/s, 128/s)
        MaxPool (128/s) / 8                        (N, 32, 8, 8)
      paths concatenated                           (N, 160, 8, 8)
      conv 1x1, ReLU                               (N, 64, 8, 8)
    head:
      Flatten, Dropout                             (N, 4096)
      Linear                                       (N, 28)  logits

The original used seven scales (down to 1/64) on large images; the number of
scales, the path width and the input size are options. ``image_size`` must be
a multiple of max(scales), and the dense layer is built for that one size.
"""
from hpa.models.classifier import Classifier
from minidl.layers import AvgPool2d, BatchNorm2d, Concat, Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU, Sequential


def conv_bn_relu(cin, cout):
    # No conv bias: batch norm subtracts the per-channel mean right after.
    return [Conv2d(cin, cout, 3, padding=1, bias=False), BatchNorm2d(cout), ReLU()]


def scale_path(in_channels, width, scale, pool):
    """(N, C, S, S) -> (N, width, S/scale/pool, S/scale/pool): one scale's three convolutions."""
    layers = [AvgPool2d(scale)] if scale > 1 else []
    cin = in_channels
    for _ in range(3):
        layers += conv_bn_relu(cin, width)
        cin = width
    if pool > 1:
        layers.append(MaxPool2d(pool))
    return Sequential(*layers)


class MCNN(Classifier):
    """Multi-scale CNN for ``image_size`` px inputs; see the module docstring."""

    def __init__(self, num_classes=28, in_channels=4, image_size=128, scales=(1, 2, 4, 8, 16),
                 width=32, merge_channels=64, dropout=0.5):
        super().__init__()
        scales = tuple(sorted(set(scales)))
        if not scales or scales[0] < 1 or any(max(scales) % s for s in scales):
            raise ValueError(f"scales must be positive and each divide the largest, got {scales}")
        if image_size % max(scales):
            raise ValueError(f"image_size must be a multiple of max(scales) = {max(scales)}, got {image_size}")
        self.expected_input = (in_channels, image_size)
        self.scales = scales
        grid = image_size // max(scales)
        paths = [scale_path(in_channels, width, s, image_size // s // grid) for s in scales]
        # The merge is conv + bias + ReLU, not conv-BN-ReLU: a batch norm here would cancel
        # any per-channel shift of the pooled paths, leaving their last batch norms' biases
        # without gradient wherever the max-pooled values are all positive.
        self.features = Sequential(Concat(*paths), Conv2d(width * len(scales), merge_channels, 1), ReLU())
        self.head = Sequential(Flatten(), Dropout(dropout), Linear(merge_channels * grid * grid, num_classes))

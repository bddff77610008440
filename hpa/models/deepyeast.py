"""DeepYeast (Pärnamaa & Parts 2017): a VGG-style network for protein localisation.

DeepYeast classified single yeast cells, cropped to 64x64 px with two
channels, into 12 compartments. It is plain VGG: stacks of 3x3 convolutions
(each followed by batch norm and ReLU) in three blocks of 64, 128 and 256
channels (2, 2 and 4 convolutions), a 2x2 max pooling after each block, then
two dense layers of 512 with dropout 0.5. Here the input has the 4 HPA stains
and there are 28 outputs.

Input size. The flattened feature map feeds a dense layer, so the network is
built for one size: ``image_size`` (default 64, as in the paper), a multiple
of 8. For HPA that means 64 px images, either whole fields downscaled 8x
(cells become tiny) or 64 px crops of larger images; larger sizes work but
grow the first dense layer quadratically.

Shapes for N images at 64 px::

    x                                       (N, 4, 64, 64)
    features:
      2 x [conv 64, BN, ReLU],  max pool 2  (N, 64, 32, 32)
      2 x [conv 128, BN, ReLU], max pool 2  (N, 128, 16, 16)
      4 x [conv 256, BN, ReLU], max pool 2  (N, 256, 8, 8)
    head:
      Flatten                               (N, 16384)
      Linear 512, ReLU, Dropout 0.5         (N, 512)
      Linear 512, ReLU, Dropout 0.5         (N, 512)
      Linear 28                             (N, 28)  logits

The convolutions have no bias: the batch norm right after them would cancel it.
"""
from hpa.models.classifier import Classifier
from minidl.layers import BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU, Sequential


def vgg_features(in_channels, widths, convs):
    """Blocks of ``n`` x (3x3 conv, BN, ReLU) then max pool 2: the side halves per block."""
    layers, cin = [], in_channels
    for width, n in zip(widths, convs):
        for _ in range(n):
            layers += [Conv2d(cin, width, 3, padding=1, bias=False), BatchNorm2d(width), ReLU()]
            cin = width
        layers.append(MaxPool2d(2))
    return Sequential(*layers)


class DeepYeast(Classifier):
    """DeepYeast for ``image_size`` px inputs (a multiple of 2 ** len(widths))."""

    def __init__(self, num_classes=28, in_channels=4, image_size=64, widths=(64, 128, 256),
                 convs=(2, 2, 4), hidden=512, dropout=0.5):
        super().__init__()
        if len(widths) != len(convs) or not widths:
            raise ValueError(f"widths and convs must have the same, non-zero length, got {widths}, {convs}")
        factor = 2 ** len(widths)
        if image_size % factor:
            raise ValueError(f"image_size must be a multiple of {factor}, got {image_size}")
        self.expected_input = (in_channels, image_size)
        side = image_size // factor
        self.features = vgg_features(in_channels, widths, convs)
        self.head = Sequential(Flatten(),
                               Linear(widths[-1] * side * side, hidden), ReLU(), Dropout(dropout),
                               Linear(hidden, hidden), ReLU(), Dropout(dropout),
                               Linear(hidden, num_classes))

    def cam_layers(self):
        """The last ReLU (before the final max pooling): Grad-CAM at twice the pooled resolution."""
        return [("last conv block", self.features[-2])]

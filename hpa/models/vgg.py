"""VGG-16/19 (Simonyan & Zisserman 2015), with or without batch norm, in torchvision's layout.

Five stages of 3x3 convolutions (padding 1, stride 1, so the side is kept),
each followed by 2x2 max pooling that halves the side; then the map is pooled
to 7x7 and three dense layers classify it. Stacking small kernels gives a
large receptive field (three 3x3 convs see 7x7) with fewer weights and more
non-linearities than one large kernel.

    depth   convs per stage     widths
    16      2, 2, 3, 3, 3       64, 128, 256, 512, 512
    19      2, 2, 4, 4, 4       64, 128, 256, 512, 512

Shapes for N images at 224 px (VGG-16)::

    x                                               (N, 4, 224, 224)
    features: per stage [conv 3x3 (+ BN), ReLU] x k, max pool 2
      stage 1..5                                    (N, 512, 7, 7)
    head:
      avgpool: AdaptiveAvgPool2d(7)                 (N, 512, 7, 7)  (an identity at 224 px)
      flatten                                       (N, 25088)
      classifier: Linear 4096, ReLU, Dropout,
                  Linear 4096, ReLU, Dropout,
                  Linear                            (N, 28)  logits

Other sides from 32 px work: the adaptive pooling maps any final map to 7x7
(at 512 px the 16x16 map is averaged over overlapping bins).

Names are torchvision's: ``features.<i>.weight`` counts every module of the
flat feature list (convs, batch norms, ReLUs, pools), so VGG-16's convs are
``features.0, 2, 5, 7, 10, ...`` and VGG-16-BN's ``features.0, 3, 7, 10, ...``
with their batch norms right after; the dense layers are ``classifier.0``,
``classifier.3`` and ``classifier.6``. Convolutions keep their bias, also
before batch norm, as in torchvision. So a torchvision state dict loads key
for key once ``features.0.weight`` has 4 input channels and ``classifier.6``
28 outputs (``hpa.import_weights``).
"""
from hpa.models.classifier import Classifier
from minidl.layers import AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU, Sequential

WIDTHS = (64, 128, 256, 512, 512)
CONVS = {16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}


def vgg_features(in_channels, widths, convs, batch_norm):
    """The flat list [conv, (BN,) ReLU, ..., MaxPool] of all stages: (N, C, S, S) -> (N, widths[-1], S/32, S/32)."""
    layers, cin = [], in_channels
    for width, count in zip(widths, convs):
        for _ in range(count):
            layers.append(Conv2d(cin, width, 3, padding=1))
            if batch_norm:
                layers.append(BatchNorm2d(width))
            layers.append(ReLU())
            cin = width
        layers.append(MaxPool2d(2))
    return Sequential(*layers)


class VGG(Classifier):
    """VGG of ``depth`` 16 or 19, optionally with batch norm; see the module docstring.

    ``widths`` (five stages), ``hidden`` (the two dense layers) and
    ``pool_size`` shrink the same architecture for tests.
    """

    def __init__(self, num_classes=28, in_channels=4, image_size=224, depth=16, batch_norm=False,
                 widths=WIDTHS, hidden=4096, pool_size=7, dropout=0.5):
        super().__init__()
        if depth not in CONVS:
            raise ValueError(f"depth must be one of {sorted(CONVS)}, got {depth!r}")
        if len(widths) != 5:
            raise ValueError(f"widths must give the 5 stages' widths, got {widths!r}")
        if image_size < 32:
            raise ValueError(f"image_size must be at least 32 (five 2x2 poolings), got {image_size}")
        self.expected_input = (in_channels, image_size)
        self.features = vgg_features(in_channels, widths, CONVS[depth], batch_norm)
        self.avgpool = AdaptiveAvgPool2d(pool_size)
        self.classifier = Sequential(Linear(widths[-1] * pool_size * pool_size, hidden), ReLU(), Dropout(dropout),
                                     Linear(hidden, hidden), ReLU(), Dropout(dropout), Linear(hidden, num_classes))
        self.share_parts(self.features, Sequential(self.avgpool, Flatten(), self.classifier))

"""GapNet: global average pools tapped at three depths, then a small dense classifier.

Rumetshofer et al. ("Human-level protein localization with convolutional
neural networks", ICLR 2019) designed GapNet-PL for high-resolution microscopy
images: cheap strided convolutions bring the image down early, and instead of
flattening one deep feature map, the *global averages* of the feature maps
after each of three blocks are concatenated. Early, fine-grained features
(texture, small dots) and late, coarse ones both reach the classifier, and the
averages make the network indifferent to the input size and to where in the
field of view the cells are.

Both variants share the layout (widths ``widths=(32, 64, 128)``, convolutions
per block ``convs=(1, 3, 3)``, every convolution 3x3 with padding 1). Shapes
for N images at 512 px::

    x                                          (N, 4, 512, 512)
    features (GapTaps):
      block 1: conv /2, 32;   max pool 2       (N, 32, 128, 128)  -> tap (N, 32)
      block 2: conv /2, 64; 2 x conv 64;
               max pool 2                      (N, 64, 32, 32)    -> tap (N, 64)
      block 3: 3 x conv 128                    (N, 128, 32, 32)   -> tap (N, 128)
      taps concatenated                        (N, 224)
    head:
      Linear 224 -> 256, act, dropout          (N, 256)
      Linear 256 -> 256, act, dropout          (N, 256)
      Linear 256 -> 28                         (N, 28)  logits

Blocks 1 and 2 max-pool before their last activation, not after: ReLU and
SELU are increasing functions, so they commute with taking a maximum, and the
same input wins each window (on ties too, since an increasing function keeps
them ties). Output and gradients are exactly those of activation-then-pool,
and the activation runs on a quarter of the values.

The input shrinks 16-fold before block 3, so 512 px images are affordable
and any size from 16 px runs (64 px or more keeps block 3 at least 4x4).

``variant="bn"`` (default), a batch-normalised form for training with ReLU:
each convolution is preceded by batch norm and followed by ReLU (batch norm on the
raw input doubles as input normalisation); each tap passes dropout (0.4) after
its average pooling, and so does each hidden dense layer.

``variant="pl"``, the original GapNet-PL: SELU activations, no batch norm
(SELU keeps activations near zero mean and unit variance by itself, given
LeCun-normal initial weights, which we use for every weight, with zero
biases), and alpha dropout after the hidden dense layers (plain dropout would
break the self-normalisation); the taps are not dropped. Where published
versions of GapNet-PL differ in the number of 64-channel convolutions in
block 2, we follow three (the strided one and two more), and we take the
dropout rate as a hyper-parameter (default 0.4, as in the "bn" variant).
"""
from hpa.models.classifier import Classifier
from minidl import init
from minidl.layers import (
    SELU,
    AlphaDropout,
    BatchNorm2d,
    Conv2d,
    Dropout,
    GlobalAvgPool2d,
    Linear,
    MaxPool2d,
    ModuleList,
    ReLU,
    Sequential,
)
from minidl.layers.containers import concat_features, split_features
from minidl.module import Module

VARIANTS = ("bn", "pl")


class GapTaps(Module):
    """GapNet's feature extractor: global average pools tapped from every stage.

    The stages run in sequence, x -> h1 = s1(x) -> h2 = s2(h1) -> ...; the output
    of each tapped stage k, (N, C_k, H_k, W_k), is averaged to (N, C_k), and the
    pooled taps are concatenated to (N, sum C_k): features from early (fine) and
    late (coarse) stages side by side. ``taps`` lists the tapped stage indices
    (default all); the last stage must be one, or later stages would be unused.

    Dropout with rate ``dropout`` is applied to the pooled features. Pooling
    first and dropping then is far cheaper than dropping whole feature maps,
    and it drops each pooled feature with the same probability.

    Backward: a tapped output h_k feeds both its pool and stage k+1, so
    dL/dh_k = gap'^T (its part of dL/dy) + (gradient coming down from stage k+1).
    """

    def __init__(self, stages, dropout=0.0, taps=None):
        super().__init__()
        stages = list(stages)
        if not stages:
            raise ValueError("stages must not be empty")
        taps = tuple(range(len(stages))) if taps is None else tuple(sorted(set(taps)))
        if not taps or not all(isinstance(t, int) and 0 <= t < len(stages) for t in taps):
            raise ValueError(f"taps must be stage indices in [0, {len(stages)}), got {taps!r}")
        if taps[-1] != len(stages) - 1:
            raise ValueError(f"taps must include the last stage {len(stages) - 1}, got {taps!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.stages = ModuleList(stages)
        self.taps = taps
        self.pools = ModuleList(GlobalAvgPool2d() for _ in taps)
        self.dropout = Dropout(dropout)

    def forward(self, x):
        pooled = []
        pools = iter(self.pools)
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.taps:
                pooled.append(next(pools)(x))
        features, bounds = concat_features(pooled)
        self.save_for_backward(bounds)
        return self.dropout(features)

    def backward(self, dy):
        parts = dict(zip(self.taps, zip(self.pools, split_features(self.dropout.backward(dy), *self.saved()))))
        grad = None
        for i in reversed(range(len(self.stages))):
            if i in parts:
                pool, part = parts[i]
                tap = pool.backward(part)
                grad = tap if grad is None else grad + tap
            grad = self.stages[i].backward(grad)
        return grad

    def extra_repr(self):
        return f"taps={self.taps}"


def conv_unit(variant, cin, cout, stride):
    """BN -> conv -> ReLU ("bn") or conv -> SELU ("pl"): (N, cin, H, W) -> (N, cout, H/stride, W/stride)."""
    conv = Conv2d(cin, cout, 3, stride=stride, padding=1)
    if variant == "pl":
        return [conv, SELU()]
    return [BatchNorm2d(cin), conv, ReLU()]


def blocks(variant, in_channels, widths, convs):
    """The three stages: blocks 1 and 2 start with a stride-2 conv and end in max pooling."""
    stages, cin = [], in_channels
    for b, (width, n) in enumerate(zip(widths, convs)):
        layers = []
        for i in range(n):
            stride = 2 if i == 0 and b < 2 else 1
            layers += conv_unit(variant, cin, width, stride)
            cin = width
        if b < 2:  # before the last activation (module docstring): the same values, a quarter of the work
            layers.insert(len(layers) - 1, MaxPool2d(2))
        stages.append(Sequential(*layers))
    return stages


def lecun_init(module):
    """LeCun-normal weights, zero biases: the initialisation SELU's fixed point assumes."""
    for name, p in module.named_parameters():
        if name.endswith("weight"):
            p.data[...] = init.lecun_normal(p.shape)
        else:
            p.data[...] = 0


class GapNet(Classifier):
    """GapNet (``variant="bn"``) or GapNet-PL (``variant="pl"``); see the module docstring.

    ``image_size`` is only the documented default input (512 px): any size >= 16 works.
    """

    def __init__(self, num_classes=28, in_channels=4, image_size=512, variant="bn",
                 widths=(32, 64, 128), convs=(1, 3, 3), hidden=256, dropout=0.4):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        if len(widths) != 3 or len(convs) != 3 or min(convs) < 1:
            raise ValueError(f"widths and convs need three entries (convs >= 1), got {widths}, {convs}")
        if image_size < 16:
            raise ValueError(f"GapNet needs images of at least 16 px, got {image_size}")
        self.variant = variant
        self.expected_input = (in_channels, image_size)
        tap_dropout = dropout if variant == "bn" else 0.0
        self.features = GapTaps(blocks(variant, in_channels, widths, convs), dropout=tap_dropout)
        act, drop = (SELU, AlphaDropout) if variant == "pl" else (ReLU, Dropout)
        self.head = Sequential(Linear(sum(widths), hidden), act(), drop(dropout),
                               Linear(hidden, hidden), act(), drop(dropout),
                               Linear(hidden, num_classes))
        if variant == "pl":
            lecun_init(self)

    def cam_layers(self):
        """The last stage's output (N, widths[-1], S/8, S/8), the deepest tapped map."""
        return [("last stage", self.features.stages[-1])]

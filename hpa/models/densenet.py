"""A small DenseNet-BC (Huang et al. 2017) for HPA images.

In a dense block every layer reads the concatenation of all earlier feature
maps in the block and adds ``growth_rate`` new channels to it, so features are
reused rather than recomputed and the layers can stay narrow. Each dense layer
is a bottleneck, BN-ReLU-conv 1x1 (``bn_size * growth_rate`` channels) then
BN-ReLU-conv 3x3 (``growth_rate`` channels). Between blocks a transition,
BN-ReLU-conv 1x1 then 2x2 average pooling, halves the channels (compression
0.5) and the side.

Shapes for N images at the default 128 px with the "large" stem, blocks of
(6, 12, 16) layers, growth rate 12, 64 stem channels::

    x                                          (N, 4, 128, 128)
    features:
      stem: conv 7x7 /2, BN, ReLU, max pool 3 /2  (N, 64, 32, 32)
      dense block 1 (6 layers)                 (N, 64 + 6*12 = 136, 32, 32)
      transition                               (N, 68, 16, 16)
      dense block 2 (12 layers)                (N, 68 + 12*12 = 212, 16, 16)
      transition                               (N, 106, 8, 8)
      dense block 3 (16 layers)                (N, 106 + 16*12 = 298, 8, 8)
      BN, ReLU                                 (N, 298, 8, 8)   <- class activation maps
    head:
      global average pooling                   (N, 298)
      Linear                                   (N, 28)  logits

``stem="small"`` replaces the stem by a single 3x3 convolution at full
resolution (the CIFAR form, for small inputs): the blocks then run at
S, S/2 and S/4. The network is fully convolutional up to the global pooling,
so it accepts any input size (from 16 px with the large stem, 4 px with the
small one).

Parameter names are torchvision's (``features.conv0.weight``,
``features.denseblock1.denselayer1.norm1.running_mean``,
``features.transition1.conv.weight``, ``features.norm5.bias``,
``classifier.weight``), so with ``torchvision_densenet(121 | 161 | 169)``
(four blocks, growth rate 32 or 48, 64 or 96 stem channels, 224 px) a
torchvision state dict loads key for key once the first conv has 4 input
channels and the classifier 28 outputs (``hpa.import_weights``). The final
ReLU is ``features.relu5`` here, where torchvision applies it after
``features``; it holds no state. The small default network (three blocks)
uses the same layout.

Class activation maps (Zhou et al. 2016): because the head is global average
pooling followed by one Linear layer, the logit of class c is the spatial
mean of CAM_c = sum_k W[c, k] * F_k, plus the bias, with F = ``features(x)``
(N, 298, h, w) and W the Linear weight (28, 298). ``cam_parts()`` returns
``(self.features, linear)`` for that computation.
"""
from hpa.models.classifier import Classifier
from minidl import backend
from minidl.layers import AvgPool2d, BatchNorm2d, Conv2d, GlobalAvgPool2d, Linear, MaxPool2d, ReLU, Sequential
from minidl.module import Module

STEMS = ("large", "small")


class DenseLayer(Module):
    """One DenseNet layer (Huang et al. 2017): x (N, C, H, W) -> (N, growth_rate, H, W).

    With a bottleneck (DenseNet-B): BN-ReLU-Conv1x1(bn_size*growth_rate)-BN-ReLU-Conv3x3(growth_rate);
    with ``bn_size=None``: BN-ReLU-Conv3x3(growth_rate). Convolutions have no bias (a BN
    follows each, or the next layer's BN does). Children are named like torchvision's
    (norm1, relu1, conv1, norm2, relu2, conv2), the names torchvision's dense layers have.
    """

    def __init__(self, in_channels, growth_rate, bn_size=4):
        super().__init__()
        width = growth_rate if bn_size is None else bn_size * growth_rate
        self.norm1 = BatchNorm2d(in_channels)
        self.relu1 = ReLU()
        if bn_size is None:
            self.conv1 = Conv2d(in_channels, growth_rate, 3, padding=1, bias=False)
            return
        self.conv1 = Conv2d(in_channels, width, 1, bias=False)
        self.norm2 = BatchNorm2d(width)
        self.relu2 = ReLU()
        self.conv2 = Conv2d(width, growth_rate, 3, padding=1, bias=False)

    def forward(self, x):
        for m in self.children():
            x = m(x)
        return x

    def backward(self, dy):
        for m in reversed(list(self.children())):
            dy = m.backward(dy)
        return dy


class DenseBlock(Module):
    """DenseNet's block: layer l sees the block input and all earlier layers' outputs.

    x (N, C, H, W) -> y (N, C + num_layers*growth_rate, H, W), where layer l reads
    channels [0, C + l*k) of y and writes its k = growth_rate new channels after them.
    Children: denselayer1, denselayer2, ... (torchvision's names).

    Backward, from the last layer down: layer l's output channels carry
    dL/dy[:, C+l*k : C+(l+1)*k] (including what later layers added to them), and
    its input gradient is added to the channels it read, dL/dy[:, :C+l*k].
    """

    def __init__(self, num_layers, in_channels, growth_rate, bn_size=4):
        super().__init__()
        for name, value in (("num_layers", num_layers), ("in_channels", in_channels),
                            ("growth_rate", growth_rate)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if bn_size is not None and (not isinstance(bn_size, int) or bn_size < 1):
            raise ValueError(f"bn_size must be a positive int or None, got {bn_size!r}")
        self.in_channels, self.growth_rate = in_channels, growth_rate
        self.out_channels = in_channels + num_layers * growth_rate
        for i in range(num_layers):
            setattr(self, f"denselayer{i + 1}", DenseLayer(in_channels + i * growth_rate, growth_rate, bn_size))

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must have shape (N, {self.in_channels}, H, W), got {x.shape}")
        xp = backend.get_array_module(x)
        # One output buffer: each layer reads a prefix view of it and fills the next
        # channels, instead of re-concatenating an ever longer tensor at every layer.
        y = xp.empty((x.shape[0], self.out_channels) + x.shape[2:], dtype=x.dtype)
        y[:, :self.in_channels] = x
        c = self.in_channels
        for layer in self.children():
            y[:, c:c + self.growth_rate] = layer(y[:, :c])
            c += self.growth_rate
        return y

    def backward(self, dy):
        grad = dy.copy()  # our own buffer: input gradients are added into its prefix
        c = self.out_channels
        for layer in reversed(list(self.children())):
            c -= self.growth_rate
            grad[:, :c] += layer.backward(grad[:, c:c + self.growth_rate])
        return grad[:, :self.in_channels]

    def extra_repr(self):
        return f"in_channels={self.in_channels}, growth_rate={self.growth_rate}"


def make_stem(kind, in_channels, channels):
    """"large": (N, C, S, S) -> (N, channels, S/4, S/4); "small": -> (N, channels, S, S)."""
    if kind == "small":
        # Dense layers begin with BN-ReLU themselves, so the conv output goes in raw.
        return {"conv0": Conv2d(in_channels, channels, 3, padding=1, bias=False)}
    return {"conv0": Conv2d(in_channels, channels, 7, stride=2, padding=3, bias=False),
            "norm0": BatchNorm2d(channels), "relu0": ReLU(), "pool0": MaxPool2d(3, stride=2, padding=1)}


def transition(cin, cout):
    """BN-ReLU-conv 1x1-avgpool 2: (N, cin, H, W) -> (N, cout, H/2, W/2); torchvision's names."""
    return Sequential({"norm": BatchNorm2d(cin), "relu": ReLU(), "conv": Conv2d(cin, cout, 1, bias=False),
                       "pool": AvgPool2d(2)})


class DenseNet(Classifier):
    """DenseNet-BC with ``block_layers`` dense layers per block; see the module docstring."""

    def __init__(self, num_classes=28, in_channels=4, image_size=128, block_layers=(6, 12, 16),
                 growth_rate=12, init_features=64, bn_size=4, compression=0.5, stem="large"):
        super().__init__()
        if stem not in STEMS:
            raise ValueError(f"stem must be one of {STEMS}, got {stem!r}")
        self.expected_input = (in_channels, image_size)
        layers = make_stem(stem, in_channels, init_features)
        channels = init_features
        for i, n in enumerate(block_layers):
            layers[f"denseblock{i + 1}"] = DenseBlock(n, channels, growth_rate, bn_size=bn_size)
            channels += n * growth_rate
            if i < len(block_layers) - 1:
                reduced = int(channels * compression)
                layers[f"transition{i + 1}"] = transition(channels, reduced)
                channels = reduced
        layers[f"norm{len(block_layers) + 1}"] = BatchNorm2d(channels)
        layers[f"relu{len(block_layers) + 1}"] = ReLU()  # torchvision applies it after ``features``
        self.features = Sequential(layers)
        self.classifier = Linear(channels, num_classes)
        # ``classifier`` stays a top-level name, as in torchvision; the head only reuses it.
        self.share_parts(self.features, Sequential(GlobalAvgPool2d(), self.classifier))

    def cam_parts(self):
        """(module mapping images to the last feature map (N, C, h, w), the final Linear (28, C))."""
        return self.features, self.classifier


# torchvision's configurations: (dense layers per block, growth rate, stem channels)
TORCHVISION = {121: ((6, 12, 24, 16), 32, 64), 161: ((6, 12, 36, 24), 48, 96), 169: ((6, 12, 32, 32), 32, 64)}


def torchvision_densenet(depth):
    """The builder of torchvision's DenseNet-``depth``: its blocks fixed, the widths adjustable (for tests)."""
    block_layers, growth, stem_channels = TORCHVISION[depth]

    def build(num_classes=28, in_channels=4, image_size=224, growth_rate=growth, init_features=stem_channels,
              bn_size=4):
        return DenseNet(num_classes, in_channels, image_size, block_layers=block_layers, growth_rate=growth_rate,
                        init_features=init_features, bn_size=bn_size)
    build.__name__ = build.__qualname__ = f"densenet{depth}"
    build.__doc__ = f"DenseNet-{depth} (torchvision layout): blocks {block_layers}, growth rate {growth}."
    return build

"""Inception-ResNet-V2 (Szegedy et al. 2017) with timm's parameter names, for its ImageNet weights.

An Inception block runs several convolution branches of different receptive
fields side by side on one input and concatenates their outputs on the
channel axis. Inception-ResNet adds each block's result to its input like a
ResNet block does, but scaled down first, which the paper found necessary to
keep training of so wide a network stable:

    y = relu(x + s * conv1x1(concat(branch_0(x), ..., branch_k(x))))     s = 0.17, 0.10 or 0.20

The 1x1 convolution (with a bias, no batch norm) maps the concatenation back
to x's channels. Every other convolution is ``BasicConv2d``: conv (no bias),
batch norm (eps 1e-3, the TensorFlow original's), ReLU, named ``conv``,
``bn``, ``relu``. Large kernels are factorised: 7x7 into 1x7 then 7x1 (paddings
(0, 3) and (3, 0)), 3x3 into 1x3 then 3x1, which covers the same window with
fewer weights.

Shapes for N images at 299 px (timm's layer names)::

    x                                                  (N, C, 299, 299)
    conv2d_1a 3x3 /2 (32), conv2d_2a 3x3 (32),
    conv2d_2b 3x3 pad 1 (64), maxpool_3a 3 /2           (N, 64, 73, 73)
    conv2d_3b 1x1 (80), conv2d_4a 3x3 (192), maxpool_5a (N, 192, 35, 35)
    mixed_5b: 1x1 | 1x1,5x5 | 1x1,3x3,3x3 | avgpool,1x1  (N, 320, 35, 35)
    repeat: 10 Block35, s = 0.17                        (N, 320, 35, 35)
    mixed_6a (reduction): 3x3/2 | 1x1,3x3,3x3/2 | max   (N, 1088, 17, 17)
    repeat_1: 20 Block17 (1x7, 7x1), s = 0.10           (N, 1088, 17, 17)
    mixed_7a (reduction): three conv paths /2 | max     (N, 2080, 8, 8)
    repeat_2: 9 Block8 (1x3, 3x1), s = 0.20; block8 (s = 1, no ReLU)
    conv2d_7b 1x1 (1536)                                (N, 1536, 8, 8)  <- class activation maps
    global_pool, classif                                (N, num_classes)

The valid (unpadded) 3x3 convolutions and pools shrink the side, so the
network needs at least 75 px (then the last map is 1x1). Mixed_5b's average
pool does not count its padding (``count_include_pad=False``), as in timm.

``width`` scales every channel count (1: timm's; tests use narrow copies);
the residual blocks' channels follow from the branches they concatenate.
"""
from hpa.models.classifier import Classifier
from minidl.layers import AvgPool2d, BatchNorm2d, Conv2d, GlobalAvgPool2d, Linear, MaxPool2d, ReLU, Sequential
from minidl.layers.containers import concat_features, split_features
from minidl.module import Module

MIN_SIZE = 75
BN_EPS = 1e-3
SCALES = {"repeat": 0.17, "repeat_1": 0.10, "repeat_2": 0.20}
REPEATS = {"repeat": 10, "repeat_1": 20, "repeat_2": 9}


def basic_conv(cin, cout, kernel_size, stride=1, padding=0):
    """conv (no bias), batch norm (eps 1e-3), ReLU: (N, cin, H, W) -> (N, cout, H', W')."""
    return Sequential({"conv": Conv2d(cin, cout, kernel_size, stride=stride, padding=padding, bias=False),
                       "bn": BatchNorm2d(cout, eps=BN_EPS), "relu": ReLU()})


def out_channels(module):
    """Channels a convolution branch outputs: its last conv's."""
    convs = [m for m in module.modules() if isinstance(m, Conv2d)]
    return convs[-1].out_channels


class Mixed(Module):
    """Branches ``branch0``, ``branch1``, ... on one input, outputs concatenated on the channel axis.

    Backward splits dL/dy into the branches' parts and sums their input
    gradients (every branch read all of x).
    """

    def __init__(self, *branches):
        super().__init__()
        for i, branch in enumerate(branches):
            setattr(self, f"branch{i}", branch)

    def _branches(self):
        return [m for name, m in self._modules.items() if name.startswith("branch")]

    def forward(self, x):
        y, bounds = concat_features([b(x) for b in self._branches()])
        self.save_for_backward(bounds)
        return y

    def backward(self, dy):
        (bounds,) = self.saved()
        grads = [b.backward(g) for b, g in zip(self._branches(), split_features(dy, bounds))]
        total = grads[0]
        for g in grads[1:]:
            total = total + g
        return total


class ScaledResidual(Mixed):
    """relu(x + scale * conv2d(concat of the branches)): Block35, Block17 and Block8.

    dL/dx = dL/du + branches' input gradients of scale * conv2d^T dL/du, with
    u the sum before the ReLU (dL/du = dL/dy where u > 0; no ReLU: u = y).
    """

    def __init__(self, channels, branches, scale, relu=True):
        super().__init__(*branches)
        self.conv2d = Conv2d(sum(map(out_channels, branches)), channels, 1)
        self.relu = ReLU() if relu else None
        self.scale = scale

    def forward(self, x):
        u = x + self.scale * self.conv2d(super().forward(x))
        return u if self.relu is None else self.relu(u)

    def backward(self, dy):
        du = dy if self.relu is None else self.relu.backward(dy)
        return du + super().backward(self.conv2d.backward(self.scale * du))

    def extra_repr(self):
        return f"scale={self.scale}"


class InceptionResnetV2(Classifier):
    """Inception-ResNet-V2 for ``in_channels`` stains; see the module docstring."""

    def __init__(self, num_classes=28, in_channels=4, image_size=299, width=1.0):
        super().__init__()
        if not image_size >= MIN_SIZE:
            raise ValueError(f"image_size must be at least {MIN_SIZE} px, got {image_size!r}")
        if not 0 < width <= 1:
            raise ValueError(f"width must be in (0, 1], got {width!r}")
        self.expected_input = (in_channels, image_size)
        self.width = width

        def c(n):
            return max(2, round(n * width))

        self.conv2d_1a = basic_conv(in_channels, c(32), 3, stride=2)
        self.conv2d_2a = basic_conv(c(32), c(32), 3)
        self.conv2d_2b = basic_conv(c(32), c(64), 3, padding=1)
        self.maxpool_3a = MaxPool2d(3, stride=2)
        self.conv2d_3b = basic_conv(c(64), c(80), 1)
        self.conv2d_4a = basic_conv(c(80), c(192), 3)
        self.maxpool_5a = MaxPool2d(3, stride=2)
        cin = c(192)
        self.mixed_5b = Mixed(
            basic_conv(cin, c(96), 1),
            Sequential(basic_conv(cin, c(48), 1), basic_conv(c(48), c(64), 5, padding=2)),
            Sequential(basic_conv(cin, c(64), 1), basic_conv(c(64), c(96), 3, padding=1),
                       basic_conv(c(96), c(96), 3, padding=1)),
            Sequential(AvgPool2d(3, stride=1, padding=1, count_include_pad=False), basic_conv(cin, c(64), 1)))
        c35 = c(96) + c(64) + c(96) + c(64)
        self.repeat = Sequential(*(self._block35(c35, c) for _ in range(REPEATS["repeat"])))
        self.mixed_6a = Mixed(
            basic_conv(c35, c(384), 3, stride=2),
            Sequential(basic_conv(c35, c(256), 1), basic_conv(c(256), c(256), 3, padding=1),
                       basic_conv(c(256), c(384), 3, stride=2)),
            MaxPool2d(3, stride=2))
        c17 = c(384) + c(384) + c35
        self.repeat_1 = Sequential(*(self._block17(c17, c) for _ in range(REPEATS["repeat_1"])))
        self.mixed_7a = Mixed(
            Sequential(basic_conv(c17, c(256), 1), basic_conv(c(256), c(384), 3, stride=2)),
            Sequential(basic_conv(c17, c(256), 1), basic_conv(c(256), c(288), 3, stride=2)),
            Sequential(basic_conv(c17, c(256), 1), basic_conv(c(256), c(288), 3, padding=1),
                       basic_conv(c(288), c(320), 3, stride=2)),
            MaxPool2d(3, stride=2))
        c8 = c(384) + c(288) + c(320) + c17
        self.repeat_2 = Sequential(*(self._block8(c8, c, SCALES["repeat_2"]) for _ in range(REPEATS["repeat_2"])))
        self.block8 = self._block8(c8, c, 1.0, relu=False)
        self.conv2d_7b = basic_conv(c8, c(1536), 1)
        self.global_pool = GlobalAvgPool2d()
        self.classif = Linear(c(1536), num_classes)
        stem = [self.conv2d_1a, self.conv2d_2a, self.conv2d_2b, self.maxpool_3a, self.conv2d_3b, self.conv2d_4a,
                self.maxpool_5a]
        self.share_parts(Sequential(*stem, self.mixed_5b, self.repeat, self.mixed_6a, self.repeat_1,
                                    self.mixed_7a, self.repeat_2, self.block8, self.conv2d_7b),
                         Sequential(self.global_pool, self.classif))

    @staticmethod
    def _block35(channels, c):
        return ScaledResidual(channels, [
            basic_conv(channels, c(32), 1),
            Sequential(basic_conv(channels, c(32), 1), basic_conv(c(32), c(32), 3, padding=1)),
            Sequential(basic_conv(channels, c(32), 1), basic_conv(c(32), c(48), 3, padding=1),
                       basic_conv(c(48), c(64), 3, padding=1))], SCALES["repeat"])

    @staticmethod
    def _block17(channels, c):
        return ScaledResidual(channels, [
            basic_conv(channels, c(192), 1),
            Sequential(basic_conv(channels, c(128), 1), basic_conv(c(128), c(160), (1, 7), padding=(0, 3)),
                       basic_conv(c(160), c(192), (7, 1), padding=(3, 0)))], SCALES["repeat_1"])

    @staticmethod
    def _block8(channels, c, scale, relu=True):
        return ScaledResidual(channels, [
            basic_conv(channels, c(192), 1),
            Sequential(basic_conv(channels, c(192), 1), basic_conv(c(192), c(224), (1, 3), padding=(0, 1)),
                       basic_conv(c(224), c(256), (3, 1), padding=(1, 0)))], scale, relu)

    def cam_parts(self):
        """(module mapping images to the last feature map (N, 1536, h, w), the final Linear ``classif``)."""
        return self.features, self.classif

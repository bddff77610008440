"""ResNet-18/34/50/101 (He et al. 2016) with torchvision's parameter names and a 4-stain first conv.

A residual block learns a correction f(x) to its input and outputs
relu(x + f(x)); the identity path lets gradients reach early layers unchanged,
which is what makes deep stacks trainable. Two kinds of block:

* ``BasicBlock`` (ResNet-18/34): f = conv 3x3, BN, ReLU, conv 3x3, BN; width w in and out.
* ``Bottleneck`` (ResNet-50/101): f = conv 1x1 (w), BN, ReLU, conv 3x3 (w), BN, ReLU,
  conv 1x1 (4w), BN: the 3x3 conv runs on a quarter of the block's 4w channels,
  so a deeper network costs about what a shallow one of basic blocks does.
  The stride sits on the 3x3 conv (torchvision's "ResNet v1.5").

The network is a stem and four stages; the first block of stages 2-4 halves
the side (stride 2), and wherever the shape changes the shortcut is a
projection (``downsample``: 1x1 conv /stride, BN) instead of the identity.

    depth   block        blocks per stage   output channels
    18      BasicBlock   2, 2, 2, 2         512
    34      BasicBlock   3, 4, 6, 3         512
    50      Bottleneck   3, 4, 6, 3         2048
    101     Bottleneck   3, 4, 23, 3        2048

Shapes of ResNet-50 for N images at 224 px::

    x                                            (N, 4, 224, 224)
    features:
      conv1 7x7 /2 (64), bn1, relu               (N, 64, 112, 112)
      maxpool 3 /2 pad 1                         (N, 64, 56, 56)
      layer1: 3 Bottlenecks, w 64                (N, 256, 56, 56)
      layer2: 4 Bottlenecks, w 128, first /2     (N, 512, 28, 28)
      layer3: 6 Bottlenecks, w 256, first /2     (N, 1024, 14, 14)
      layer4: 3 Bottlenecks, w 512, first /2     (N, 2048, 7, 7)  <- class activation maps
    head:
      avgpool (global)                           (N, 2048)
      fc                                         (N, 28)  logits

Any size works (global pooling); from 32 px on, layer4 is more than one pixel.

Parameter and buffer names are torchvision's exactly (``conv1.weight``,
``bn1.running_mean``, ``layer1.0.conv3.weight``, ``layer2.0.downsample.0.weight``,
``fc.bias``, ...), and no convolution has a bias, as in torchvision; so a
torchvision state dict loads key for key once ``conv1.weight`` has 4 input
channels and ``fc`` 28 outputs (``hpa.import_weights`` does both). Stateless
modules differ (each block has ``relu1``... where torchvision reuses one
``relu``), which no state dict sees.

``features`` and ``head`` are Sequentials over the same layer objects (see
``Classifier.share_parts``), so they add no names. Class activation maps: the
logit of class c is fc.bias[c] plus the spatial mean of
CAM_c = sum_k fc.weight[c, k] * F_k with F = ``features(x)``; ``cam_parts()``
returns ``(self.features, self.fc)``.
"""
from hpa.models.classifier import Classifier
from minidl.layers import BatchNorm2d, Conv2d, GlobalAvgPool2d, Linear, MaxPool2d, ReLU, Sequential
from minidl.module import Module

STAGE_WIDTHS = (64, 128, 256, 512)
# depth -> (block kind, blocks per stage)
DEPTHS = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)),
          50: ("bottleneck", (3, 4, 6, 3)), 101: ("bottleneck", (3, 4, 23, 3))}


def _projection(cin, cout, stride):
    """The shortcut when the shape changes: 1x1 conv /stride, BN; else None (identity)."""
    if stride == 1 and cin == cout:
        return None
    return Sequential(Conv2d(cin, cout, 1, stride=stride, bias=False), BatchNorm2d(cout))


class _Residual(Module):
    """relu(body(x) + shortcut(x)); subclasses register the body's layers in order and ``downsample``."""

    def _body(self):
        return [m for name, m in self._modules.items() if name not in ("downsample", "relu_out")]

    def forward(self, x):
        body = x
        for m in self._body():
            body = m(body)
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu_out(body + shortcut)

    def backward(self, dy):
        dsum = self.relu_out.backward(dy)
        dbody = dsum
        for m in reversed(self._body()):
            dbody = m.backward(dbody)
        # x feeds both paths: their gradients add.
        return dbody + (dsum if self.downsample is None else self.downsample.backward(dsum))


class BasicBlock(_Residual):
    """(N, cin, H, W) -> (N, width, H/stride, W/stride): conv3x3(/stride), BN, ReLU, conv3x3, BN, + shortcut."""

    expansion = 1

    def __init__(self, cin, width, stride=1):
        super().__init__()
        self.conv1 = Conv2d(cin, width, 3, stride=stride, padding=1, bias=False)
        self.bn1 = BatchNorm2d(width)
        self.relu1 = ReLU()
        self.conv2 = Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = BatchNorm2d(width)
        self.downsample = _projection(cin, width, stride)
        self.relu_out = ReLU()


class Bottleneck(_Residual):
    """(N, cin, H, W) -> (N, 4*width, H/stride, W/stride): 1x1 (width), 3x3 (/stride), 1x1 (4*width)."""

    expansion = 4

    def __init__(self, cin, width, stride=1):
        super().__init__()
        self.conv1 = Conv2d(cin, width, 1, bias=False)
        self.bn1 = BatchNorm2d(width)
        self.relu1 = ReLU()
        self.conv2 = Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = BatchNorm2d(width)
        self.relu2 = ReLU()
        self.conv3 = Conv2d(width, width * 4, 1, bias=False)
        self.bn3 = BatchNorm2d(width * 4)
        self.downsample = _projection(cin, width * 4, stride)
        self.relu_out = ReLU()


BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


def stage(block, cin, width, blocks, stride):
    """``blocks`` blocks, the first with ``stride``: (N, cin, H, W) -> (N, width * expansion, H/s, W/s)."""
    cout = width * block.expansion
    return Sequential(block(cin, width, stride), *(block(cout, width) for _ in range(blocks - 1)))


class ResNet(Classifier):
    """ResNet of ``depth`` 18, 34, 50 or 101 with ``in_channels`` input stains; see the module docstring.

    ``widths`` are the four stages' widths (torchvision: 64, 128, 256, 512);
    smaller ones give the same architecture, narrower, for tests.
    """

    def __init__(self, num_classes=28, in_channels=4, image_size=224, depth=50, widths=STAGE_WIDTHS):
        super().__init__()
        if depth not in DEPTHS:
            raise ValueError(f"depth must be one of {sorted(DEPTHS)}, got {depth!r}")
        if len(widths) != 4:
            raise ValueError(f"widths must give the 4 stages' widths, got {widths!r}")
        kind, counts = DEPTHS[depth]
        block = BLOCKS[kind]
        self.expected_input = (in_channels, image_size)
        self.conv1 = Conv2d(in_channels, widths[0], 7, stride=2, padding=3, bias=False)
        self.bn1 = BatchNorm2d(widths[0])
        self.relu = ReLU()
        self.maxpool = MaxPool2d(3, stride=2, padding=1)
        cin = widths[0]
        for i, (width, count) in enumerate(zip(widths, counts)):
            setattr(self, f"layer{i + 1}", stage(block, cin, width, count, 1 if i == 0 else 2))
            cin = width * block.expansion
        self.avgpool = GlobalAvgPool2d()
        self.fc = Linear(cin, num_classes)
        layers = [getattr(self, f"layer{i + 1}") for i in range(4)]
        self.share_parts(Sequential(self.conv1, self.bn1, self.relu, self.maxpool, *layers),
                         Sequential(self.avgpool, self.fc))

    def cam_parts(self):
        """(module mapping images to the last feature map (N, C, h, w), the final Linear (28, C))."""
        return self.features, self.fc

"""ResNet-18 (He et al. 2016) with a first convolution for the 4 HPA stains.

A residual block learns a correction f(x) to its input and outputs
relu(x + f(x)); the identity path lets gradients reach early layers unchanged,
which is what makes deep stacks trainable. ResNet-18 is a stem and four
stages of two BasicBlocks (f = conv 3x3, BN, ReLU, conv 3x3, BN). The first
block of stages 2-4 halves the side with stride 2 and doubles the channels,
so its shortcut is a projection (1x1 conv /2, BN) instead of the identity.

Shapes for N images at 512 px::

    x                                            (N, 4, 512, 512)
    features:
      conv1 7x7 /2 (64), bn1, relu               (N, 64, 256, 256)
      maxpool 3 /2 pad 1                         (N, 64, 128, 128)
      layer1: 2 BasicBlocks 64                   (N, 64, 128, 128)
      layer2: 2 BasicBlocks 128, first /2        (N, 128, 64, 64)
      layer3: 2 BasicBlocks 256, first /2        (N, 256, 32, 32)
      layer4: 2 BasicBlocks 512, first /2        (N, 512, 16, 16)  <- class activation maps
    head:
      avgpool (global)                           (N, 512)
      fc                                         (N, 28)  logits

The network is fully convolutional up to the global pooling, so any size
works (``image_size`` is only the documented default, 512); from 32 px on,
layer4 is more than a single pixel.

Parameter and buffer names are torchvision's ``resnet18`` names exactly:
``conv1.weight``, ``bn1.{weight,bias,running_mean,running_var,num_batches_tracked}``,
``layer1.0.conv1.weight``, ``layer2.0.downsample.0.weight``,
``layer2.0.downsample.1.*``, ``fc.weight``, ``fc.bias``; no convolution has a
bias, as in torchvision. So a torchvision state dict converted to NumPy loads
with ``load_state_dict`` once the entries whose shape differs are replaced:
``conv1.weight`` (64, 3, 7, 7) -> (64, 4, 7, 7) (e.g. keep the RGB filters and
add the mean of the three as the yellow stain's filter) and ``fc.*`` (1000
classes -> 28). Modules without state differ (each block has ``relu1`` and
``relu2`` where torchvision reuses one ``relu``), which no state dict sees.

``features`` and ``head`` are Sequentials over the same layer objects, built once from the
registered modules above, so they add no names of their own. Freezing
``features.parameters()`` freezes the same Parameter objects the model uses.

Class activation maps (Zhou et al. 2016): the head is global average pooling
and one Linear, so the logit of class c is fc.bias[c] plus the spatial mean of
CAM_c = sum_k fc.weight[c, k] * F_k, with F = ``features(x)`` (N, 512, h, w),
layer4's output. ``cam_parts()`` returns ``(self.features, self.fc)``.
"""
from hpa.models.classifier import Classifier
from minidl.layers import BatchNorm2d, Conv2d, GlobalAvgPool2d, Linear, MaxPool2d, ReLU, Sequential
from minidl.module import Module

STAGE_WIDTHS = (64, 128, 256, 512)


class BasicBlock(Module):
    """relu(f(x) + shortcut(x)) with f = conv3x3(/stride), BN, ReLU, conv3x3, BN.

    (N, cin, H, W) -> (N, cout, H/stride, W/stride). ``downsample`` (1x1 conv
    /stride, BN) projects the shortcut when the shape changes, else it is None.
    """

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = BatchNorm2d(cout)
        self.relu1 = ReLU()
        self.conv2 = Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = BatchNorm2d(cout)
        self.downsample = (Sequential(Conv2d(cin, cout, 1, stride=stride, bias=False), BatchNorm2d(cout))
                           if stride != 1 or cin != cout else None)
        self.relu2 = ReLU()

    def forward(self, x):
        body = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu2(body + shortcut)

    def backward(self, dy):
        dsum = self.relu2.backward(dy)
        dbody = self.conv1.backward(self.bn1.backward(self.relu1.backward(
            self.conv2.backward(self.bn2.backward(dsum)))))
        # x feeds both paths: their gradients add.
        return dbody + (dsum if self.downsample is None else self.downsample.backward(dsum))


def stage(cin, cout, blocks, stride):
    return Sequential(BasicBlock(cin, cout, stride), *(BasicBlock(cout, cout) for _ in range(blocks - 1)))


class ResNet18(Classifier):
    """ResNet-18 with ``in_channels`` input stains; see the module docstring."""

    def __init__(self, num_classes=28, in_channels=4, image_size=512, widths=STAGE_WIDTHS, blocks=2):
        super().__init__()
        self.expected_input = (in_channels, image_size)
        self.conv1 = Conv2d(in_channels, widths[0], 7, stride=2, padding=3, bias=False)
        self.bn1 = BatchNorm2d(widths[0])
        self.relu = ReLU()
        self.maxpool = MaxPool2d(3, stride=2, padding=1)
        cin = widths[0]
        for i, width in enumerate(widths):
            setattr(self, f"layer{i + 1}", stage(cin, width, blocks, 1 if i == 0 else 2))
            cin = width
        self.avgpool = GlobalAvgPool2d()
        self.fc = Linear(cin, num_classes)
        layers = [getattr(self, f"layer{i + 1}") for i in range(len(widths))]
        # conv1 ... layer4: (N, C, S, S) -> (N, 512, S/32, S/32); avgpool, fc: -> (N, 28).
        self.share_parts(Sequential(self.conv1, self.bn1, self.relu, self.maxpool, *layers),
                         Sequential(self.avgpool, self.fc))

    def cam_parts(self):
        """(module mapping images to the last feature map (N, 512, h, w), the final Linear (28, 512))."""
        return self.features, self.fc

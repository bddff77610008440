"""A PyTorch twin of timm's Inception-ResNet-V2, written with torch.nn and timm's module names.

timm's package imports torchvision, whose compiled ops must match the
installed torch; where that cannot be installed this twin stands in. It
rebuilds timm's module tree (attribute names ``conv2d_1a.conv``, ``mixed_5b.branch3.1.bn``,
``repeat_1.19.conv2d``, ``block8``, ``classif``...; layer hyper-parameters;
batch-norm eps 1e-3; the average pool that does not count its padding), so
its ``state_dict()`` has timm's keys (checked against ``tests/hpa/data/timm_inception_resnet_v2_keys.txt``,
written from timm's own model code) and its forward pass is timm's.
``width`` narrows it for tests. Import only when torch is installed.
"""
import torch
from torch import nn


class BasicConv2d(nn.Module):
    def __init__(self, cin, cout, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class Mixed(nn.Module):
    def __init__(self, *branches):
        super().__init__()
        for i, branch in enumerate(branches):
            setattr(self, f"branch{i}", branch)
        self.count = len(branches)

    def forward(self, x):
        return torch.cat([getattr(self, f"branch{i}")(x) for i in range(self.count)], 1)


class Block(Mixed):
    """Block35 / Block17 / Block8: relu(x + scale * conv2d(cat(branches)))."""

    def __init__(self, channels, branches, concat, scale, relu=True):
        super().__init__(*branches)
        self.conv2d = nn.Conv2d(concat, channels, 1)
        self.relu = nn.ReLU() if relu else None
        self.scale = scale

    def forward(self, x):
        out = super().forward(x)
        out = self.conv2d(out) * self.scale + x
        return out if self.relu is None else self.relu(out)


class InceptionResnetV2(nn.Module):
    def __init__(self, num_classes=1000, in_chans=3, width=1.0):
        super().__init__()

        def c(n):
            return max(2, round(n * width))

        B = BasicConv2d
        self.conv2d_1a = B(in_chans, c(32), 3, stride=2)
        self.conv2d_2a = B(c(32), c(32), 3)
        self.conv2d_2b = B(c(32), c(64), 3, padding=1)
        self.maxpool_3a = nn.MaxPool2d(3, stride=2)
        self.conv2d_3b = B(c(64), c(80), 1)
        self.conv2d_4a = B(c(80), c(192), 3)
        self.maxpool_5a = nn.MaxPool2d(3, stride=2)
        i = c(192)
        self.mixed_5b = Mixed(B(i, c(96), 1), nn.Sequential(B(i, c(48), 1), B(c(48), c(64), 5, padding=2)),
                              nn.Sequential(B(i, c(64), 1), B(c(64), c(96), 3, padding=1),
                                            B(c(96), c(96), 3, padding=1)),
                              nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
                                            B(i, c(64), 1)))
        a = c(96) + c(64) + c(96) + c(64)
        self.repeat = nn.Sequential(*(Block(a, [
            B(a, c(32), 1), nn.Sequential(B(a, c(32), 1), B(c(32), c(32), 3, padding=1)),
            nn.Sequential(B(a, c(32), 1), B(c(32), c(48), 3, padding=1), B(c(48), c(64), 3, padding=1))],
            c(32) * 2 + c(64), 0.17) for _ in range(10)))
        self.mixed_6a = Mixed(B(a, c(384), 3, stride=2),
                              nn.Sequential(B(a, c(256), 1), B(c(256), c(256), 3, padding=1),
                                            B(c(256), c(384), 3, stride=2)),
                              nn.MaxPool2d(3, stride=2))
        b = 2 * c(384) + a
        self.repeat_1 = nn.Sequential(*(Block(b, [
            B(b, c(192), 1),
            nn.Sequential(B(b, c(128), 1), B(c(128), c(160), (1, 7), padding=(0, 3)),
                          B(c(160), c(192), (7, 1), padding=(3, 0)))], 2 * c(192), 0.10) for _ in range(20)))
        self.mixed_7a = Mixed(nn.Sequential(B(b, c(256), 1), B(c(256), c(384), 3, stride=2)),
                              nn.Sequential(B(b, c(256), 1), B(c(256), c(288), 3, stride=2)),
                              nn.Sequential(B(b, c(256), 1), B(c(256), c(288), 3, padding=1),
                                            B(c(288), c(320), 3, stride=2)),
                              nn.MaxPool2d(3, stride=2))
        d = c(384) + c(288) + c(320) + b

        def block8(scale, relu=True):
            return Block(d, [B(d, c(192), 1),
                             nn.Sequential(B(d, c(192), 1), B(c(192), c(224), (1, 3), padding=(0, 1)),
                                           B(c(224), c(256), (3, 1), padding=(1, 0)))],
                         c(192) + c(256), scale, relu)

        self.repeat_2 = nn.Sequential(*(block8(0.20) for _ in range(9)))
        self.block8 = block8(1.0, relu=False)
        self.conv2d_7b = B(d, c(1536), 1)
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.classif = nn.Linear(c(1536), num_classes)

    def forward(self, x):
        for name in ("conv2d_1a", "conv2d_2a", "conv2d_2b", "maxpool_3a", "conv2d_3b", "conv2d_4a", "maxpool_5a",
                     "mixed_5b", "repeat", "mixed_6a", "repeat_1", "mixed_7a", "repeat_2", "block8", "conv2d_7b"):
            x = getattr(self, name)(x)
        return self.classif(torch.flatten(self.global_pool(x), 1))

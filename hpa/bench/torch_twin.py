"""PyTorch twins of minidl networks, for the benchmarks (``hpa.bench.steps``, ``hpa.bench.gpu_check``).

``torch_twin(model, torch)`` walks a minidl module tree and builds the same
network from ``torch.nn`` layers, child by child under the same names, so
``twin.load_state_dict`` takes minidl's ``state_dict()`` as is: both engines
then start a step from the same weights. The few minidl containers PyTorch
lacks (``Concat``, ``ChannelSelect``, ``GapTaps`` and hpa's ``PooledConcat``
and ``ColumnSplit``) get small torch modules of the same wiring. Only the
benchmarks and their tests use this file; the engine never imports torch.
"""


def _pair_args(m):
    return dict(kernel_size=m.kernel_size, stride=m.stride, padding=m.padding)


def torch_twin(model, torch=None):
    """The torch.nn network computing what the minidl ``model`` computes (``torch``: the module)."""
    if torch is None:
        import torch
    nn = torch.nn

    class Concat(nn.Module):
        """Branches on one input (after an optional mean pooling), outputs concatenated on axis 1."""

        def __init__(self, branches, pool=None):
            super().__init__()
            self.branches = nn.ModuleList(branches)
            self.pool = pool

        def forward(self, x):
            x = x if self.pool is None else self.pool(x)
            return torch.cat([b(x) for b in self.branches], dim=1)

    class ColumnSplit(nn.Module):
        """Branch i reads the i-th equal block of columns."""

        def __init__(self, branches):
            super().__init__()
            self.branches = nn.ModuleList(branches)

        def forward(self, x):
            parts = torch.chunk(x, len(self.branches), dim=1)
            return torch.cat([b(p) for b, p in zip(self.branches, parts)], dim=1)

    class ChannelSelect(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.channels = list(channels)

        def forward(self, x):
            return x[:, self.channels]

    class GapTaps(nn.Module):
        def __init__(self, stages, taps, p):
            super().__init__()
            self.stages, self.taps, self.dropout = nn.ModuleList(stages), taps, nn.Dropout(p)

        def forward(self, x):
            pooled = []
            for i, stage in enumerate(self.stages):
                x = stage(x)
                if i in self.taps:
                    pooled.append(x.mean(dim=(2, 3)))
            return self.dropout(torch.cat(pooled, dim=1))

    class Network(nn.Module):
        """A model with ``features`` and ``head`` children (ParallelLeNet, GapNet)."""

        def __init__(self, features, head):
            super().__init__()
            self.features, self.head = features, head

        def forward(self, x):
            return self.head(self.features(x))

    def twin(m):
        kind = type(m).__name__
        if kind == "Sequential":
            return nn.Sequential(*map(twin, m.children()))
        if kind == "Conv2d":
            return nn.Conv2d(m.in_channels, m.out_channels, bias=m.bias is not None, **_pair_args(m))
        if kind in ("MaxPool2d", "AvgPool2d"):
            return getattr(nn, kind)(**_pair_args(m))
        if kind in ("BatchNorm2d", "BatchNorm1d"):
            return getattr(nn, kind)(m.num_features, eps=m.eps, momentum=m.momentum)
        if kind == "Linear":
            return nn.Linear(m.in_features, m.out_features, bias=m.bias is not None)
        if kind in ("ReLU", "SELU", "Sigmoid", "Flatten"):
            return getattr(nn, kind)()
        if kind in ("GlobalAvgPool2d", "GlobalMaxPool2d"):
            return nn.Sequential((nn.AdaptiveAvgPool2d if "Avg" in kind else nn.AdaptiveMaxPool2d)(1), nn.Flatten())
        if kind in ("Dropout", "AlphaDropout"):
            return getattr(nn, kind)(m.p)
        if kind == "ChannelSelect":
            return ChannelSelect(m.channels)
        if kind in ("Concat", "PooledConcat"):
            pool = getattr(m, "pool", None)
            return Concat(map(twin, m.branches), None if pool is None else twin(pool))
        if kind == "ColumnSplit":
            return ColumnSplit(map(twin, m.branches))
        if kind == "GapTaps":
            return GapTaps(map(twin, m.stages), m.taps, m.dropout.p)
        if set(m._modules) == {"features", "head"}:
            return Network(twin(m.features), twin(m.head))
        raise TypeError(f"no PyTorch twin for {kind}")

    return twin(model)

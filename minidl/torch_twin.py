"""A PyTorch network with the same architecture as a minidl one, for benchmarks.

``torch_twin(model)`` walks the minidl module tree and builds the PyTorch layers
it names (``Conv2d`` -> ``torch.nn.Conv2d`` with the same sizes, and so on), so
``python -m hpa.gpu_check`` can time a training step of the same network in
both engines. The twin has PyTorch's own initial weights: it is for timing, not
for comparing values (``tests/engine/test_torch_weights.py`` does that per layer).

Containers are matched by what they compute, not by their code: ``Sequential``,
``Concat`` (branches on one input, concatenated; an optional shared ``pool``
first), ``ColumnSplit`` (branch i reads the i-th block of columns), ``GapTaps``
(global average pools tapped from a chain of stages), and any module whose
children are ``features`` and ``head`` (a classifier: head(features(x))).
Anything else raises ``NotImplementedError`` naming the module.
"""


def torch_twin(module):
    """A ``torch.nn.Module`` with ``module``'s architecture (PyTorch must be installed)."""
    import torch
    return _twin(module, torch)


def _leaf(module, torch):
    nn, name = torch.nn, type(module).__name__
    if name == "Conv2d":
        return nn.Conv2d(module.in_channels, module.out_channels, module.kernel_size, module.stride,
                         module.padding, bias=module.bias is not None)
    if name in ("MaxPool2d", "AvgPool2d"):
        return getattr(nn, name)(module.kernel_size, module.stride, module.padding)
    if name in ("BatchNorm1d", "BatchNorm2d"):
        return getattr(nn, name)(module.num_features, eps=module.eps, momentum=module.momentum)
    if name == "Linear":
        out_features, in_features = module.weight.shape
        return nn.Linear(in_features, out_features, bias=module.bias is not None)
    if name in ("Dropout", "AlphaDropout"):
        return getattr(nn, name)(module.p)
    if name in ("ReLU", "SELU", "Sigmoid", "Flatten"):
        return getattr(nn, name)()
    if name in ("GlobalAvgPool2d", "GlobalMaxPool2d"):
        return nn.Sequential((nn.AdaptiveAvgPool2d if "Avg" in name else nn.AdaptiveMaxPool2d)(1), nn.Flatten())
    if name == "ChannelSelect":
        return _Lambda(torch, lambda x, c=list(module.channels): x[:, c])
    return None


def _twin(module, torch):
    leaf = _leaf(module, torch)
    if leaf is not None:
        return leaf
    nn, name = torch.nn, type(module).__name__
    children = dict(module._modules)
    if name in ("Sequential", "ModuleList"):
        return nn.Sequential(*(_twin(m, torch) for m in children.values()))
    if "branches" in children and name.endswith("Concat"):
        pool = getattr(module, "pool", None)
        return _Branches(torch, [_twin(b, torch) for b in children["branches"]._modules.values()],
                         None if pool is None else _twin(pool, torch), split=False)
    if name == "ColumnSplit":
        return _Branches(torch, [_twin(b, torch) for b in children["branches"]._modules.values()], None, split=True)
    if name == "GapTaps":
        return _GapTaps(torch, [_twin(s, torch) for s in children["stages"]._modules.values()],
                        module.taps, module.dropout.p)
    if set(children) == {"features", "head"}:
        return nn.Sequential(_twin(children["features"], torch), _twin(children["head"], torch))
    raise NotImplementedError(f"no PyTorch twin for {name}")


def _Lambda(torch, function):
    class Lambda(torch.nn.Module):
        def forward(self, x):
            return function(x)
    return Lambda()


def _Branches(torch, branches, pool, split):
    class Branches(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.branches = torch.nn.ModuleList(branches)
            self.pool = pool

        def forward(self, x):
            if self.pool is not None:
                x = self.pool(x)
            if split:
                parts = torch.chunk(x, len(self.branches), dim=1)
                return torch.cat([b(p) for b, p in zip(self.branches, parts)], dim=1)
            return torch.cat([b(x) for b in self.branches], dim=1)
    return Branches()


def _GapTaps(torch, stages, taps, p):
    class GapTaps(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.stages = torch.nn.ModuleList(stages)
            self.dropout = torch.nn.Dropout(p)

        def forward(self, x):
            pooled = []
            for i, stage in enumerate(self.stages):
                x = stage(x)
                if i in taps:
                    pooled.append(x.mean(dim=(2, 3)))
            return self.dropout(torch.cat(pooled, dim=1))
    return GapTaps()

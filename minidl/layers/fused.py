"""Layer fusion: runs of layers that one fused op computes in fewer passes over memory.

``fuse(model)`` looks inside every ``Sequential`` of the model for these runs of
adjacent children (exact types) and gives it a plan that runs each run as one
``FusedChain``:

    MaxPool2d, BatchNorm2d, ReLU     -> op max_pool2d_batch_norm_relu   (ParallelLeNet's branches)
    BatchNorm2d | BatchNorm1d, ReLU  -> op batch_norm_relu
    Conv2d, ReLU                     -> op conv2d_relu                  (GapNet's convolutions: bias + ReLU)
    Conv2d, SELU                     -> op conv2d_selu                  (GapNet-PL's: bias + SELU)

Nothing of the model changes: the layers stay its children with their names,
parameters and buffers, so ``state_dict`` keys (PyTorch's), checkpoints,
optimizers and ``.to(device)`` see exactly the unfused model. A chain reads the
layers' arrays and hyperparameters at each call and moves batch norm's running
statistics as the BatchNorm layer does. ``unfuse(model)`` removes the plans.

Where fusion runs is the ops table's decision, not the layer's: a chain runs its
fused op only when an implementation of that op is REGISTERED for the input's
device (the CUDA kernels of ``minidl/kernels/device_fused.py`` for device
arrays). Elsewhere (host arrays, ``MINIDL_IMPL=reference``) the layers run one
by one as they would unfused, so the CPU keeps its fast per-layer paths
(``minidl/fast_cpu``), which the fused op's reference, a plain composition of
the layers' references, could not match. A layer whose ``forward`` or
``backward`` was replaced on the instance (Grad-CAM records activations that
way) makes its chain run unfused too.
"""
from minidl import backend
from minidl.layers.activations import SELU, ReLU
from minidl.layers.batchnorm import BatchNorm1d, BatchNorm2d
from minidl.layers.containers import Sequential
from minidl.layers.conv import Conv2d
from minidl.layers.pooling import MaxPool2d
from minidl.module import Module
from minidl.ops import registry

# (op, the layer types of the run, in order; a tuple of types allows either), longest first.
PATTERNS = (
    ("max_pool2d_batch_norm_relu", (MaxPool2d, BatchNorm2d, ReLU)),
    ("batch_norm_relu", ((BatchNorm1d, BatchNorm2d), ReLU)),
    ("conv2d_relu", (Conv2d, ReLU)),
    ("conv2d_selu", (Conv2d, SELU)),
)
_NORMS = (BatchNorm1d, BatchNorm2d)


def _matches(types_, layers):
    return len(layers) == len(types_) and all(
        type(layer) in (kind if isinstance(kind, tuple) else (kind,)) for kind, layer in zip(types_, layers))


def plan(layers):
    """``layers`` with every run of a pattern replaced by a ``FusedChain`` (greedy, left to right)."""
    steps, i = [], 0
    while i < len(layers):
        for op, types_ in PATTERNS:
            run = layers[i:i + len(types_)]
            if _matches(types_, run):
                steps.append(FusedChain(op, run))
                i += len(run)
                break
        else:
            steps.append(layers[i])
            i += 1
    return steps


class FusedChain(Module):
    """A run of layers computed by fused op ``op`` (see the module docstring). Not a child of
    anything: the layers are, and this object only holds references to them."""

    def __init__(self, op, layers):
        super().__init__()
        self.op, self.layers = op, tuple(layers)
        # The layer whose parameters (and buffers) the op takes after x, and whose gradients it returns.
        self.owner = next(layer for layer in self.layers if layer.param_names)
        self.ran_fused = False  # whether the last forward ran the fused op (else the layers)

    def hyper(self):
        hyper = {}
        for layer in self.layers:
            hyper.update(layer.hyper())
        return hyper

    def _implementation(self, x, hyper):
        """The registered fused implementation for x's device, or None (run the layers one by one)."""
        if any("forward" in layer.__dict__ or "backward" in layer.__dict__ for layer in self.layers):
            return None
        chosen = registry.choose(self.op, registry.device_of(x), x, **hyper)
        return None if chosen is None else chosen.impl

    def forward(self, x):
        weights = [p.data for p in self.owner._parameters.values()]
        backend.get_array_module(x, *weights)  # x on another device than the weights: the layers' plain error
        hyper = self.hyper()
        impl = self._implementation(x, hyper)
        self.ran_fused = impl is not None
        if impl is None:
            for layer in self.layers:
                x = layer(x)
            return x
        self.layers[0]._check(x)  # the shape errors the first layer gives unfused
        owner = self.owner
        args = [None if p is None else p.data for p in owner._params()]
        args += [getattr(owner, name) for name in owner.buffer_names]
        y, saved, *stats = impl.forward(x, *args, **hyper)
        if isinstance(owner, _NORMS) and stats and stats[0] is not None:
            owner._update_running(*stats[0])
        self.save_for_backward(impl, saved, hyper)
        return y

    def backward(self, dy):
        if not self.ran_fused:
            for layer in reversed(self.layers):
                dy = layer.backward(dy)
                if dy is None:
                    return None
            return dy
        impl, saved, hyper = self.saved()
        self.free_saved()
        dx, *grads = impl.backward(dy, saved, **hyper)
        for p, g in zip(self.owner._params(), grads):
            if p is not None and g is not None:
                p.grad += g
        return dx

    def __repr__(self):
        return f"FusedChain({self.op}: {', '.join(type(layer).__name__ for layer in self.layers)})"


def fuse(model):
    """Give every ``Sequential`` in ``model`` its fusion plan; returns the chains (possibly none)."""
    chains = []
    for module in model.modules():
        if isinstance(module, Sequential):
            chains += [step for step in module.set_plan(plan(list(module))) if isinstance(step, FusedChain)]
    return chains


def unfuse(model):
    """Drop every plan: each layer runs on its own again."""
    for module in model.modules():
        if isinstance(module, Sequential):
            module.set_plan(None)
    return model

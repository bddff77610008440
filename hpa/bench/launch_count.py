"""``python tests/run_on_fake_device.py -m hpa.bench.launch_count``: minidl's own CUDA kernel
launches in one training step, layer by layer against fused.

Counted where the kernels run through the serial CPU shim (the fake CUDA device of
the tests, or host arrays), so it needs no GPU: a launch count does not depend on
the card. For ParallelLeNet and GapNet (small images, the same layers as at full
size) it runs two training steps (forward, BCE, backward, Adam) and counts the
second's launches by kernel: once with the layers one by one and Adam launched per
parameter tensor, once fused (``minidl.layers.fused``) with Adam's group update
(``update_many``). CuPy's own reductions, element-wise operations and matrix
products are not counted (they are the same in both, but for the bias additions
the fused convolution saves).
"""
import collections
import sys

import numpy as np

import minidl as md
from hpa.models import build_model
from hpa.runtime.cli import run
from hpa.runtime.errors import HpaError
from minidl.kernels import cpu_shim
from minidl.layers.fused import fuse

COMMAND = "python tests/run_on_fake_device.py -m hpa.bench.launch_count"
NETWORKS = {"parallel_lenet": (32, 4), "gapnet": (64, 2)}  # name -> (image size, batch)


def count(name, fused):
    """{kernel: launches} of one training step of network ``name`` on the current device."""
    size, batch = NETWORKS[name]
    md.manual_seed(0)
    model = build_model(name, image_size=size).to(md.backend.device())
    if fused:
        fuse(model)
    rng = np.random.default_rng(0)
    x = md.to_device(rng.random((batch, 4, size, size), dtype=np.float32))
    y = md.to_device((rng.random((batch, 28)) < 0.1).astype(np.float32))
    criterion, optimizer = md.losses.BCEWithLogitsLoss(), md.optim.Adam(model.parameters(), lr=1e-3)
    counts, real_launch = collections.Counter(), cpu_shim.launch

    def step():
        criterion(model(x), y, to_float=False)
        model.zero_grad()
        model.backward(criterion.backward())
        if fused:
            optimizer.step()
        else:  # one update per parameter tensor, as before the group update
            group = optimizer.param_groups[0]
            for p in group["params"]:
                optimizer._update(p, group, optimizer.state.setdefault(p, {}))
    step()
    cpu_shim.launch = lambda kernel, *rest: counts.update([kernel]) or real_launch(kernel, *rest)
    try:
        step()
    finally:
        cpu_shim.launch = real_launch
    return counts


def main(argv=None):
    if argv:
        raise HpaError(f"hpa.bench.launch_count takes no arguments, got {' '.join(argv)}")
    if md.backend.cupy is None:
        raise HpaError(f"no device arrays: run it as {COMMAND}")
    md.use("gpu")
    for name in NETWORKS:
        for fused, label in ((False, "layers, Adam per tensor"), (True, "fused, Adam per group")):
            counts = count(name, fused)
            if not counts:
                raise HpaError(f"no launch went through the CPU shim (a real GPU runs them): run it as {COMMAND}")
            print(f"{name:15s} {label:24s} {sum(counts.values()):4d} launches: "
                  + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(run(main, sys.argv[1:]))

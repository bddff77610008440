"""Forward + backward time of ImageNet backbones, minidl next to PyTorch on the same threads.

    python -m hpa.bench.backbones                     # ResNet-50 and DenseNet-121, 224 px, batch 8
    python -m hpa.bench.backbones --models resnet18 --size 128 --repeats 5

Each network runs one training step's passes (train mode: batch statistics)
on random float32 images: minidl's ``model(x)`` then ``model.backward(dy)``,
and the PyTorch twin's (``hpa.bench.torchvision_twins``: the same
architecture with torchvision's names, NCHW) ``y = model(x); y.backward(dy)``.
Both use ``--threads`` threads (BLAS for NumPy, ``torch.set_num_threads``
for PyTorch; set OMP_NUM_THREADS to match before starting Python for exact
parity). The table gives the median of ``--repeats`` timed steps after one
warm-up step, and minidl / PyTorch. Compare within one run only: on a
shared machine, absolute times move with the other load. NumPy runs as its
users run it (``minidl.bench.blas``), minidl with its fast CPU path
(``minidl.host_memory``), as hpa's training commands run it.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

import minidl as md
from hpa.models import build_model
from minidl import host_memory
from minidl.bench import blas


def median_seconds(step, repeats):
    step()  # warm-up: workspaces, caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def minidl_step(name, x, dy):
    md.manual_seed(0)
    model = build_model(name, image_size=x.shape[-1]).train()

    def step():
        model(x)
        model.zero_grad()
        model.backward(dy)
    return step


def torch_step(name, x, dy):
    import torch

    from hpa.bench import torchvision_twins as twins
    depth = int("".join(c for c in name if c.isdigit()))
    family = twins.ResNet if name.startswith("resnet") else twins.DenseNet
    model = family(depth, in_channels=x.shape[1], num_classes=dy.shape[1]).train()
    xt, dyt = torch.from_numpy(x), torch.from_numpy(dy)

    def step():
        model.zero_grad()
        model(xt).backward(dyt)
    return step


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m hpa.bench.backbones", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["resnet50", "densenet121"])
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    args = p.parse_args(argv)
    host_memory.keep_freed_memory()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, 4, args.size, args.size)).astype(np.float32)
    dy = rng.standard_normal((args.batch, 28)).astype(np.float32)
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    print(blas.header_line())
    print(f"forward + backward, {args.batch} x 4 x {args.size} x {args.size} float32, {args.threads} threads, "
          f"median of {args.repeats}")
    print(f"{'network':<14}{'minidl s':>10}{'PyTorch s':>11}{'ratio':>8}")
    for name in args.models:
        ours = median_seconds(minidl_step(name, x, dy), args.repeats)
        theirs = median_seconds(torch_step(name, x, dy), args.repeats) if torch else float("nan")
        print(f"{name:<14}{ours:>10.2f}{theirs:>11.2f}{ours / theirs:>8.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(blas.main_as_users_run("hpa.bench.backbones", main))

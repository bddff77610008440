"""Engine benchmark: ``python -m minidl.bench [--repeat 5] [--warmup 1] [--only conv] [--device gpu]``.

``--steps`` times whole training steps of networks instead (``minidl.bench_steps``).

Times one forward plus one backward pass of the layers a small HPA network is
made of, and, when PyTorch is importable, of the same operations in PyTorch on
the same number of threads. Runs alternate between the two engines, so load
from other processes on a shared machine hits both alike, and the median of
the repeats is printed. Load still favours the engine making fewer threaded
calls: each one waits until its worker threads get a core. ``--threads 1``
gives the steadiest comparison on a busy machine.

``--device gpu`` runs minidl on CuPy (its kernels and cuBLAS) and PyTorch on
CUDA (eager, cuDNN), each timed to the end of its GPU work (a synchronize
after every step).

GFLOP/s counts 2 flops per multiply-add for convolutions and dense layers, three
products per step (forward, weight gradient, input gradient). Pooling and batch
norm are memory bound; for them the count is nominal: one flop per input
element and pass (max pool: forward and backward; batch norm: 5 forward, 7 backward).
"""
import argparse
import contextlib
import importlib
import os
import statistics
import time

import numpy

from minidl import backend, bench_steps, rng
from minidl.fast_cpu import windows


def blas_threads():
    """Threads NumPy's BLAS uses (threadpoolctl if installed, else the CPU count)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return os.cpu_count() or 1
    counts = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
    return max(counts) if counts else (os.cpu_count() or 1)


def blas_description():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    infos = [i for i in threadpool_info() if i["user_api"] == "blas"]
    return "; ".join(f"{i['internal_api']} {i.get('version')} kernel {i.get('architecture')}, "
                     f"{i['num_threads']} threads" for i in infos) or "no BLAS found"


def conv_case(n, c, o, size, k, p):
    flops = 3 * 2 * n * o * c * k * k * size * size  # stride 1, 'same' padding
    return dict(kind="conv", flops=flops, shape=(n, c, size, size),
                args=dict(in_channels=c, out_channels=o, kernel_size=k, padding=p))


CASES = {
    "conv3x3 4->32 128x128 b16": conv_case(16, 4, 32, 128, 3, 1),
    "conv3x3 32->64 64x64 b16": conv_case(16, 32, 64, 64, 3, 1),
    "conv3x3 64->128 32x32 b16": conv_case(16, 64, 128, 32, 3, 1),
    "conv5x5 2->16 128x128 b32": conv_case(32, 2, 16, 128, 5, 2),  # the parallel LeNet's two convolutions
    "conv5x5 16->32 64x64 b32": conv_case(32, 16, 32, 64, 5, 2),
    "maxpool2x2 16x32x128x128": dict(kind="maxpool", flops=2 * 16 * 32 * 128 * 128, shape=(16, 32, 128, 128)),
    "batchnorm 16x32x128x128": dict(kind="batchnorm", flops=12 * 16 * 32 * 128 * 128, shape=(16, 32, 128, 128)),
    "linear 32768->128 b32": dict(kind="linear", flops=3 * 2 * 32 * 32768 * 128, shape=(32, 32768)),
}

# kind -> (minidl module, class name, how to build it from a case)
MINIDL = {
    "conv": ("minidl.layers.conv", "Conv2d", lambda cls, case: cls(**case["args"])),
    "maxpool": ("minidl.layers.pooling", "MaxPool2d", lambda cls, case: cls(2)),
    "batchnorm": ("minidl.layers.batchnorm", "BatchNorm2d", lambda cls, case: cls(case["shape"][1])),
    "linear": ("minidl.layers.linear", "Linear", lambda cls, case: cls(case["shape"][1], 128)),
}


def minidl_step(case, dtype, device="cpu"):
    """A function running forward + backward once, or None if the layer is not available."""
    module_name, class_name, build = MINIDL[case["kind"]]
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError):
        return None
    layer = build(cls, case).astype(dtype).to(device)
    x = backend.to_device(rng.host().standard_normal(case["shape"]).astype(dtype), device)
    dy = backend.to_device(rng.host().standard_normal(layer(x).shape).astype(dtype), device)

    def step():
        layer(x)
        layer.backward(dy)
        backend.synchronize(device)
    return step


def torch_step(case, dtype, torch, device="cpu"):
    dtype = getattr(torch, numpy.dtype(dtype).name)
    where = "cuda" if device == "gpu" else "cpu"
    x = torch.randn(case["shape"], dtype=dtype, device=where, requires_grad=True)
    kind = case["kind"]
    if kind == "conv":
        a = case["args"]
        layer = torch.nn.Conv2d(a["in_channels"], a["out_channels"], a["kernel_size"], padding=a["padding"])
    elif kind == "maxpool":
        layer = torch.nn.MaxPool2d(2)
    elif kind == "batchnorm":
        layer = torch.nn.BatchNorm2d(case["shape"][1])
    else:
        layer = torch.nn.Linear(case["shape"][1], 128)
    layer = layer.to(dtype=dtype, device=where)
    dy = torch.randn_like(layer(x))

    def step():
        x.grad = None  # like minidl, the parameters' gradients accumulate
        layer(x).backward(dy)
        if where == "cuda":
            torch.cuda.synchronize()
    return step


def time_ms(step):
    start = time.perf_counter()
    step()
    return (time.perf_counter() - start) * 1e3


def run(names, repeat, warmup, dtype, torch, device="cpu"):
    rows = []
    for name in names:
        case = CASES[name]
        steps = {"minidl": minidl_step(case, dtype, device)}
        if torch is not None:
            steps["torch"] = torch_step(case, dtype, torch, device)
        steps = {k: s for k, s in steps.items() if s is not None}
        times = {k: [] for k in steps}
        for _ in range(warmup):
            for s in steps.values():
                s()
        for _ in range(repeat):  # interleaved: both engines see the same load
            for k, s in steps.items():
                times[k].append(time_ms(s))
        rows.append((name, case["flops"], {k: statistics.median(v) for k, v in times.items()}))
    return rows


def format_table(rows, with_torch):
    head = f"{'operation (forward+backward)':<30} {'minidl ms':>10} {'GFLOP/s':>8}"
    if with_torch:
        head += f" {'torch ms':>10} {'GFLOP/s':>8} {'minidl/torch':>13}"
    lines = [head, "-" * len(head)]
    for name, flops, ms in rows:
        if "minidl" in ms:
            line = f"{name:<30} {ms['minidl']:>10.1f} {flops / ms['minidl'] / 1e6:>8.1f}"
        else:
            line = f"{name:<30} {'not available':>19}"
        if with_torch:
            line += f" {ms['torch']:>10.1f} {flops / ms['torch'] / 1e6:>8.1f}"
            line += f" {ms['minidl'] / ms['torch']:>12.2f}x" if "minidl" in ms else f" {'-':>13}"
        lines.append(line)
    return "\n".join(lines)


def parse_bytes(text):
    """'1G', '256M', '64K' or a plain number of bytes."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().rstrip("B")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m minidl.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per engine (median printed)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed runs first (default 1, 2 with --steps)")
    parser.add_argument("--steps", action="store_true",
                        help="time whole training steps of networks (minidl.bench_steps), not layers")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--budget", type=parse_bytes, default=None,
                        help="im2col memory budget, e.g. 256M (default: minidl's, 1G)")
    parser.add_argument("--only", default="", help="run only the rows whose name contains this text")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"],
                        help="gpu: minidl on CuPy against PyTorch on CUDA")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for NumPy's BLAS (needs threadpoolctl) and torch; default: BLAS's own")
    args = parser.parse_args(argv)
    args.warmup = (2 if args.steps else 1) if args.warmup is None else args.warmup
    rows = bench_steps.NETWORKS if args.steps else CASES
    if not any(args.only in n for n in rows):
        parser.error(f"--only {args.only!r} matches no row: {', '.join(rows)}")
    if args.repeat < 1 or args.warmup < 0 or min(args.threads or 1, 1 if args.budget is None else args.budget) < 1:
        parser.error("--repeat, --threads and --budget must be >= 1, --warmup >= 0")
    limits = contextlib.nullcontext()
    if args.threads is not None:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            parser.error("--threads needs threadpoolctl (pip install threadpoolctl)")
        limits = threadpool_limits(args.threads, user_api="blas")
    if args.steps:
        bench_steps.run(args)
        return
    with limits:
        _report(args)


def _report(args):
    names = [n for n in CASES if args.only in n]
    if args.device == "gpu":
        try:
            backend.use("gpu")
        except backend.DeviceError as error:
            raise SystemExit(f"error: --device gpu: {error}") from None
    if args.budget is not None:
        windows.set_memory_budget(args.budget)
    backend.set_default_dtype(args.dtype)
    torch = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            pass
    if torch is not None and args.device == "gpu" and not torch.cuda.is_available():
        print("PyTorch does not see a CUDA device: no PyTorch column")
        torch = None
    threads = blas_threads()
    print(f"numpy {numpy.__version__}, BLAS: {blas_description()}; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    if torch is not None:
        torch.set_num_threads(threads)
        print(f"torch {torch.__version__} on {torch.get_num_threads()} threads")
    if args.device == "gpu":
        props = backend.cupy.cuda.runtime.getDeviceProperties(backend.cupy.cuda.Device().id)
        print(f"GPU: {props['name'].decode() if isinstance(props['name'], bytes) else props['name']}, "
              f"cupy {backend.cupy.__version__}"
              + (f", torch CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}" if torch else ""))
    print(f"{args.dtype}, median of {args.repeat} runs after {args.warmup} warm-up, "
          f"im2col budget {windows.get_memory_budget() / (1 << 20):.0f} MiB\n")
    rows = run(names, args.repeat, args.warmup, numpy.dtype(args.dtype), torch, args.device)
    print(format_table(rows, torch is not None))


if __name__ == "__main__":
    main()

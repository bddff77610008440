"""Layer benchmark: ``python -m minidl.bench [--repeat 5] [--warmup 1] [--only conv] [--device gpu]``.

Whole training steps of hpa's networks are timed by ``python -m hpa.bench.steps``.

Times one forward plus one backward pass of the layers a small HPA network is
made of, and, when PyTorch is importable, of the same operations in PyTorch on
the same number of threads. When the compiled kernels (``minidl.compiled``, the
``fast`` extra) are installed, minidl also runs with them off, so the table
shows both of its paths (``numpy ms``); ``--no-compiled`` runs only the NumPy
path. Runs alternate between the engines, so load
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
import sys
import time

import numpy

from minidl import backend, compiled, host_memory, rng
from minidl.bench import blas
from minidl.fast_cpu import windows

STEPS_MOVED = "error: --steps: whole training steps are timed by python -m hpa.bench.steps"


def blas_threads():
    """Threads NumPy's BLAS uses (threadpoolctl if installed, else the CPU count)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return os.cpu_count() or 1
    counts = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
    return max(counts) if counts else (os.cpu_count() or 1)


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
    "relu 16x32x128x128": dict(kind="relu", flops=2 * 16 * 32 * 128 * 128, shape=(16, 32, 128, 128)),
    # the parallel LeNet's three Linear 32768->128 weights; one Adam step (no forward/backward)
    "adam step 12.6M params": dict(kind="adam", flops=12 * 3 * 32768 * 128, shape=(3 * 32768 * 128,)),
    "linear 32768->128 b32": dict(kind="linear", flops=3 * 2 * 32 * 32768 * 128, shape=(32, 32768)),
}

# kind -> (minidl module, class name, how to build it from a case)
MINIDL = {
    "conv": ("minidl.layers.conv", "Conv2d", lambda cls, case: cls(**case["args"])),
    "maxpool": ("minidl.layers.pooling", "MaxPool2d", lambda cls, case: cls(2)),
    "batchnorm": ("minidl.layers.batchnorm", "BatchNorm2d", lambda cls, case: cls(case["shape"][1])),
    "relu": ("minidl.layers.activations", "ReLU", lambda cls, case: cls()),
    "linear": ("minidl.layers.linear", "Linear", lambda cls, case: cls(case["shape"][1], 128)),
}


def minidl_step(case, dtype, device="cpu"):
    """A function running forward + backward once, or None if the layer is not available."""
    if case["kind"] == "adam":
        return minidl_adam_step(case, dtype, device)
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


def minidl_adam_step(case, dtype, device):
    from minidl.module import Parameter
    from minidl.optim import Adam
    param = Parameter(backend.to_device(rng.host().standard_normal(case["shape"]).astype(dtype), device))
    param.grad = backend.to_device(rng.host().standard_normal(case["shape"]).astype(dtype), device)
    optimizer = Adam([param], lr=1e-4)
    return lambda: (optimizer.step(), backend.synchronize(device))


def torch_step(case, dtype, torch, device="cpu"):
    dtype = getattr(torch, numpy.dtype(dtype).name)
    where = "cuda" if device == "gpu" else "cpu"
    if case["kind"] == "adam":  # torch.optim.Adam with its defaults
        param = torch.nn.Parameter(torch.randn(case["shape"], dtype=dtype, device=where))
        param.grad = torch.randn_like(param)
        optimizer = torch.optim.Adam([param], lr=1e-4)
        return lambda: (optimizer.step(), torch.cuda.synchronize() if where == "cuda" else None)
    x = torch.randn(case["shape"], dtype=dtype, device=where, requires_grad=True)
    kind = case["kind"]
    if kind == "conv":
        a = case["args"]
        layer = torch.nn.Conv2d(a["in_channels"], a["out_channels"], a["kernel_size"], padding=a["padding"])
    elif kind == "maxpool":
        layer = torch.nn.MaxPool2d(2)
    elif kind == "batchnorm":
        layer = torch.nn.BatchNorm2d(case["shape"][1])
    elif kind == "relu":
        layer = torch.nn.ReLU()
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


def without_compiled(step):
    """``step`` run with minidl's compiled kernels off: its NumPy path."""
    def numpy_step():
        with compiled.off():
            step()
    return numpy_step


def run(names, repeat, warmup, dtype, torch, device="cpu", numpy_too=False):
    rows = []
    for name in names:
        case = CASES[name]
        steps = {"minidl": minidl_step(case, dtype, device)}
        if numpy_too and steps["minidl"] is not None:
            steps["numpy"] = without_compiled(minidl_step(case, dtype, device))
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
    with_numpy = any("numpy" in ms for _, _, ms in rows)
    head = f"{'operation (forward+backward)':<30} {'minidl ms':>10} {'GFLOP/s':>8}"
    head += f" {'numpy ms':>9}" if with_numpy else ""
    if with_torch:
        head += f" {'torch ms':>10} {'GFLOP/s':>8} {'minidl/torch':>13}"
    lines = [head, "-" * len(head)]
    for name, flops, ms in rows:
        if "minidl" in ms:
            line = f"{name:<30} {ms['minidl']:>10.1f} {flops / ms['minidl'] / 1e6:>8.1f}"
        else:
            line = f"{name:<30} {'not available':>19}"
        if with_numpy:
            line += f" {ms['numpy']:>9.1f}" if "numpy" in ms else f" {'-':>9}"
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
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first (default 1)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--budget", type=parse_bytes, default=None,
                        help="im2col memory budget, e.g. 256M (default: minidl's, 1G)")
    parser.add_argument("--only", default="", help="run only the rows whose name contains this text")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    parser.add_argument("--no-compiled", action="store_true",
                        help="minidl without its compiled kernels (the fast extra): the NumPy path only")
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"],
                        help="gpu: minidl on CuPy against PyTorch on CUDA")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for NumPy's BLAS (needs threadpoolctl) and torch; default: BLAS's own")
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--steps" in argv:  # the engine knows no networks: hpa's benchmark times them
        print(STEPS_MOVED, file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    if not any(args.only in n for n in CASES):
        parser.error(f"--only {args.only!r} matches no row: {', '.join(CASES)}")
    if args.repeat < 1 or args.warmup < 0 or min(args.threads or 1, 1 if args.budget is None else args.budget) < 1:
        parser.error("--repeat, --threads and --budget must be >= 1, --warmup >= 0")
    limits = contextlib.nullcontext()
    if args.threads is not None:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            parser.error("--threads needs threadpoolctl (pip install threadpoolctl)")
        limits = threadpool_limits(args.threads, user_api="blas")
    with limits, (compiled.off() if args.no_compiled else contextlib.nullcontext()):
        _report(args)
    return 0


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
    # minidl's fast CPU path, as hpa's training commands run it; both engines share the process.
    kept = host_memory.keep_freed_memory()
    threads = blas_threads()
    print(f"numpy {numpy.__version__}, {blas.header_line()}")
    print(f"malloc keeps freed memory (minidl.host_memory, both engines): {'yes' if kept else 'no'}")
    if torch is not None:
        torch.set_num_threads(threads)
        print(f"torch {torch.__version__} on {torch.get_num_threads()} threads")
    if args.device == "gpu":
        props = backend.cupy.cuda.runtime.getDeviceProperties(backend.cupy.cuda.Device().id)
        print(f"GPU: {props['name'].decode() if isinstance(props['name'], bytes) else props['name']}, "
              f"cupy {backend.cupy.__version__}"
              + (f", torch CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}" if torch else ""))
    numpy_too = compiled.enabled() and args.device == "cpu"
    print(f"compiled kernels (minidl.compiled, numba): "
          f"{'on; numpy ms: with them off' if numpy_too else 'off' if compiled.AVAILABLE else 'not installed'}")
    print(f"{args.dtype}, median of {args.repeat} runs after {args.warmup} warm-up, "
          f"im2col budget {windows.get_memory_budget() / (1 << 20):.0f} MiB\n")
    rows = run(names, args.repeat, args.warmup, numpy.dtype(args.dtype), torch, args.device, numpy_too)
    print(format_table(rows, torch is not None))

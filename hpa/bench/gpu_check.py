"""``python -m hpa.bench.gpu_check --out DIR``: the GPU acceptance run, in one command.

On a GPU machine with this checkout (run from it with ``PYTHONPATH=.``, no pip,
no network) it runs, and writes to DIR:

    pytest_gpu.txt       python -m pytest -m gpu tests/gpu (every layer, loss and kernel on
                         CuPy against NumPy; 20 training steps vs the CPU; exact resume)
    layer_bench.txt      python -m minidl.bench --device gpu (PyTorch CUDA beside it if it sees the GPU)
    network_bench.txt    full training steps (forward, loss, backward, Adam) of ParallelLeNet
                         at 128 px, batch 256, and GapNet at 512 px, batch 32, in samples/s,
                         with PyTorch CUDA eager (cuDNN) and the ratio: once in strict float32
                         (TF32 off in both), once with TF32 tensor cores allowed in both
    end_to_end.txt       python -m hpa.train --device gpu over one epoch of a Kaggle-sized cache
                         (31,072 generated samples, --samples) for both networks, its samples/s
                         next to the float32 step rate (hpa.bench.end_to_end; target 90%)
    summary.txt          the tables and the verdict

and prints the same. Each stage has a time limit so the whole run stays within
8 minutes on one H200. ``--device cpu --skip-tests`` measures the networks on the
CPU instead: the baseline the GPU figures are compared with. Exit code 1 when a
stage fails, 2 on bad arguments or no usable GPU. The ``--device cpu`` baseline runs
NumPy as users run it (``minidl.bench.blas``: a fresh process without the OpenBLAS
overrides); the GPU run leaves the tests' environment as it is, and its layer table
(``minidl.bench``) cleans its own.
"""
import argparse
import os
import pathlib
import subprocess
import sys
import time

import minidl as md
from hpa.bench import end_to_end
from hpa.bench.step import registry_training_step
from hpa.models import build_model
from hpa.runtime.cli import positive_int, run
from hpa.runtime.errors import HpaError
from minidl import host_memory
from minidl.atomic import atomic_write_text
from minidl.bench import blas

ROOT = pathlib.Path(__file__).resolve().parents[2]
# name -> (image size, batch size) of the benchmark, as the issue fixes them.
NETWORKS = {"parallel_lenet": (128, 256), "gapnet": (512, 32)}
LIMITS = {"tests": 300, "layers": 120, "end_to_end": 300}  # seconds per subprocess stage (per network)


def _env():
    """This environment with the checkout first on PYTHONPATH."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))


def _stage(command, limit):
    """(ok, output) of ``command`` run from the checkout with it on PYTHONPATH."""
    env = _env()
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired as expired:
        out = (expired.stdout or b"").decode() if isinstance(expired.stdout, bytes) else (expired.stdout or "")
        return False, out + f"\n[stopped after the {limit} s limit]\n"
    return done.returncode == 0, done.stdout + done.stderr


def _minidl_rate(name, size, batch, device, steps, warmup, tf32=False):
    """(samples/s, "ran/found" fused chains) of minidl's training step."""
    step = registry_training_step(name, size, batch, device)
    if device == "gpu":
        md.backend.allow_tf32(tf32)
    try:
        rate = _time(step, batch, steps, warmup, lambda: md.backend.synchronize(device))
        return rate, f"{sum(chain.ran_fused for chain in step.chains)}/{len(step.chains)}"
    finally:
        if device == "gpu":
            md.backend.allow_tf32(False)


def _torch_rate(name, size, batch, steps, warmup, torch, tf32):
    from hpa.bench.torch_twin import torch_twin
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True  # cuDNN picks its fastest algorithm for these shapes
    model = torch_twin(build_model(name, image_size=size)).cuda()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = torch.nn.BCEWithLogitsLoss()
    x = torch.rand(batch, 4, size, size, device="cuda")
    y = (torch.rand(batch, 28, device="cuda") < 0.1).float()

    def step():
        optimizer.zero_grad(set_to_none=True)
        criterion(model(x), y).backward()
        optimizer.step()
    return _time(step, batch, steps, warmup, torch.cuda.synchronize)


def _time(step, batch, steps, warmup, synchronize):
    for _ in range(warmup):
        step()
    synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize()
    return batch * steps / (time.perf_counter() - start)


# (label, TF32 allowed): strict float32 first (what the tests check), then TF32
# tensor cores for the products, which PyTorch's cuDNN convolutions use by default.
PRECISIONS = (("float32", False), ("TF32", True))


def network_table(device, steps, warmup, rates=None):
    """The training-step table: samples/s of minidl (and PyTorch CUDA eager on the GPU).
    ``rates`` (a dict) receives minidl's float32 samples/s by network."""
    torch = None
    if device == "gpu":
        try:
            import torch
            torch = torch if torch.cuda.is_available() else None
        except ImportError:
            pass
    precisions = PRECISIONS if device == "gpu" else PRECISIONS[:1]
    lines = [f"numpy: {blas.header_line()}",
             f"training steps (forward, BCE, backward, Adam), {steps} timed after {warmup} warm-up, "
             f"device {device}" + ("" if device == "cpu" or torch else "; PyTorch CUDA not available"),
             "fused: the layer runs minidl.layers.fused found in the network, and how many ran fused kernels",
             f"{'network':<16} {'input':>9} {'batch':>6} {'products':>9} {'fused':>6} {'minidl samples/s':>17} "
             f"{'torch samples/s':>16} {'minidl/torch':>13}"]
    for name, (size, batch) in NETWORKS.items():
        for label, tf32 in precisions:
            ours, fused = _minidl_rate(name, size, batch, device, steps, warmup, tf32)
            if rates is not None and not tf32:
                rates[name] = ours
            theirs = None
            if torch is not None:
                try:
                    theirs = _torch_rate(name, size, batch, steps, warmup, torch, tf32)
                except NotImplementedError as error:
                    lines.append(f"  ({name}: {error})")
            lines.append(f"{name:<16} {size:>6} px {batch:>6} {label:>9} {fused:>6} {ours:>17.1f} "
                         + (f"{theirs:>16.1f} {ours / theirs:>12.2f}x" if theirs else f"{'-':>16} {'-':>13}"))
    return "\n".join(lines)


def main(argv=None, as_command=False):
    """``as_command``: run as ``python -m`` runs it, the CPU baseline then in a process without
    the OpenBLAS overrides (tests call ``main`` and keep their environment)."""
    parser = argparse.ArgumentParser(prog="python -m hpa.bench.gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=pathlib.Path, help="folder for the reports")
    parser.add_argument("--device", default="gpu", choices=("gpu", "cpu"),
                        help="where to time the networks (cpu: the baseline; implies no GPU tests)")
    parser.add_argument("--steps", type=positive_int, default=10, help="timed training steps per network")
    parser.add_argument("--warmup", type=positive_int, default=2, help="untimed steps first (kernel compiles)")
    parser.add_argument("--skip-tests", action="store_true", help="only the benchmarks")
    parser.add_argument("--samples", type=int, default=end_to_end.KAGGLE_SAMPLES,
                        help="generated samples of the end-to-end table's epoch (default: Kaggle's 31,072; "
                             "0 skips the table)")
    args = parser.parse_args(argv)
    if args.samples < 0:
        parser.error("--samples must not be negative")
    if as_command and args.device == "cpu" and any(k in os.environ for k in blas.OVERRIDES):
        return blas.main_as_users_run("hpa.bench.gpu_check", main, argv)
    host_memory.keep_freed_memory()  # the fast CPU path, as hpa's training commands run it
    if args.device == "gpu":
        try:
            md.use("gpu")
        except md.backend.DeviceError as error:
            raise HpaError(f"--device gpu: {error}") from None
        md.use("cpu")
    args.out.mkdir(parents=True, exist_ok=True)
    reports, failed = {}, []
    stages = []
    if args.device == "gpu" and not args.skip_tests:
        stages.append(("pytest_gpu", [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-ra", "tests/gpu"],
                       LIMITS["tests"]))
    if args.device == "gpu":
        stages.append(("layer_bench", [sys.executable, "-m", "minidl.bench", "--device", "gpu"], LIMITS["layers"]))
    for name, command, limit in stages:
        print(f"== {name}: {' '.join(command[1:])}", flush=True)
        ok, output = _stage(command, limit)
        reports[name] = output
        atomic_write_text(args.out / f"{name}.txt", output)
        print(output, flush=True)
        if not ok:
            failed.append(name)
    print("== network_bench", flush=True)
    rates = {}
    reports["network_bench"] = network_table(args.device, args.steps, args.warmup, rates)
    atomic_write_text(args.out / "network_bench.txt", reports["network_bench"] + "\n")
    print(reports["network_bench"])
    if args.samples > 0:
        print(f"== end_to_end ({args.samples} samples per network)", flush=True)
        reports["end_to_end"], succeeded = end_to_end.table(NETWORKS, rates, args.device, args.samples,
                                                            LIMITS["end_to_end"], env=_env(), root=args.out)
        atomic_write_text(args.out / "end_to_end.txt", reports["end_to_end"] + "\n")
        print(reports["end_to_end"])
        failed += [] if succeeded else ["end_to_end"]
    verdict = "FAILED: " + ", ".join(failed) if failed else "all stages passed"
    summary = "\n\n".join(f"== {k}\n{v.strip()}" for k, v in reports.items()) + f"\n\n{verdict}\n"
    atomic_write_text(args.out / "summary.txt", summary)
    print(f"{verdict}; reports in {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(run(lambda argv: main(argv, as_command=True)))

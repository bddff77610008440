"""Whole training steps side by side: ``python -m hpa.bench.steps [--repeat 7] [--threads 2]``.

One step is what a training loop does per batch: forward, BCE-with-logits
loss, zero_grad, backward, Adam update. Each network is timed in minidl and,
when PyTorch is importable, in PyTorch with NCHW tensors and with
channels_last ones, each in its own worker process (so its peak RSS is its
own; minidl's calls ``minidl.host_memory.keep_freed_memory()`` as hpa's training
commands do, the PyTorch ones keep the default malloc their users get), all
started without the OpenBLAS overrides (``minidl.bench.blas``), all from the same
weights (minidl's ``state_dict``, loaded into a twin built by
``hpa.bench.torch_twin``), the same input batch and the same number of threads.
The workers take turns step by step, so load from other processes on a shared
machine hits all of them alike; the median of ``--repeat`` steps after
``--warmup`` steps is printed.

GFLOP counts 2 flops per multiply-add of every convolution and dense layer,
three products each (forward, weight gradient, input gradient), whether or
not an engine skips one; the peak is the best GFLOP/s of a large float32
NumPy matmul on the same threads, measured in the minidl worker. Peak RSS is
the worker's maximum resident memory; "above imports" subtracts what it held
after importing its framework, before building the network.

Networks (``--only`` picks by substring):

* ``ParallelLeNet (hpa)``: ``hpa.models.ParallelLeNet()``, batch 32 of 4x128x128;
* ``ParallelLeNet (plain)``: the same network written with minidl's generic
  layers at their defaults (each branch ends in its own Linear + ReLU inside
  a ``Concat``), batch 32 of 4x128x128;
* ``GapNet (hpa)``: ``hpa.models.GapNet(image_size=256)``, batch 8 of 4x256x256.

With the compiled kernels installed (``minidl.compiled``, the ``fast`` extra),
a second minidl worker runs with ``MINIDL_COMPILED=0``: "minidl numpy", the
path users without the extra get. ``--no-compiled`` runs only that one.
"""
import argparse
import importlib.util
import multiprocessing
import os
import resource
import statistics
import sys
import time

import numpy

from hpa.bench.step import training_step
from hpa.models import GapNet, ParallelLeNet
from minidl import compiled, host_memory, rng
from minidl import layers as nn
from minidl.bench import blas

FRAMEWORKS = ("minidl", "torch NCHW", "torch channels_last")


def plain_parallel_lenet():
    """The parallel LeNet from generic layers: 3 x (ChannelSelect, [Conv5x5-MaxPool-BN-ReLU] x 2,
    Flatten, Linear 32768->128, ReLU) concatenated, then Dropout-Linear-ReLU x 2, Dropout-Linear."""
    def branch(reference):
        stage = [nn.Conv2d(2, 16, 5, padding=2, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(16), nn.ReLU(),
                 nn.Conv2d(16, 32, 5, padding=2, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(32), nn.ReLU()]
        return nn.Sequential(nn.ChannelSelect((reference, 1)), *stage,
                             nn.Flatten(), nn.Linear(32 * 32 * 32, 128), nn.ReLU())
    head = [nn.Dropout(0.2), nn.Linear(384, 256), nn.ReLU(), nn.Dropout(0.2), nn.Linear(256, 128), nn.ReLU(),
            nn.Dropout(0.2), nn.Linear(128, 28)]
    return nn.Sequential(nn.Concat(*(branch(r) for r in (0, 2, 3))), *head)


# name -> (builder, batch shape)
NETWORKS = {
    "ParallelLeNet (hpa)": (ParallelLeNet, (32, 4, 128, 128)),
    "ParallelLeNet (plain)": (plain_parallel_lenet, (32, 4, 128, 128)),
    "GapNet (hpa)": (lambda: GapNet(image_size=256), (8, 4, 256, 256)),
}


def step_flops(model, x):
    """Nominal flops of one training step: 3 products of 2 flops per multiply-add, per conv and dense layer."""
    macs = []

    def counting(layer, forward):
        def count(inp):
            out = forward(inp)
            per_output = layer.weight.data.size // layer.weight.shape[0]  # C*kh*kw or in_features
            macs.append(out.size * per_output)
            return out
        return count

    counted = [m for m in model.modules() if type(m) in (nn.Conv2d, nn.Linear)]
    for m in counted:
        object.__setattr__(m, "forward", counting(m, m.forward))
    try:
        model(x)
    finally:
        for m in counted:
            del m.__dict__["forward"]
    return 3 * 2 * sum(macs)


def sgemm_peak(size=2048, repeat=3):
    """Best GFLOP/s of a float32 (size x size) @ (size x size) product."""
    a = numpy.ones((size, size), dtype=numpy.float32)
    a @ a
    best = min(_seconds(lambda: a @ a) for _ in range(repeat))
    return 2 * size ** 3 / best / 1e9


def _seconds(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _rss_mib():
    """Resident memory now (Linux; the peak so far elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / (1 << 20)
    except OSError:
        return _peak_rss_mib()


def _minidl_step(name, state, x, y):
    model = NETWORKS[name][0]()
    model.load_state_dict(state)
    state.clear()  # the worker's copy: free it, so RSS counts the network only
    return training_step(model, x, y)


def _torch_step(name, state, x, y, channels_last, threads):
    import torch

    from hpa.bench.torch_twin import torch_twin
    torch.set_num_threads(threads)
    net = torch_twin(NETWORKS[name][0](), torch)
    net.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    state.clear()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    if channels_last:
        net, xt = net.to(memory_format=torch.channels_last), xt.contiguous(memory_format=torch.channels_last)
    criterion, optimizer = torch.nn.BCEWithLogitsLoss(), torch.optim.Adam(net.parameters(), lr=1e-3)

    def step():
        optimizer.zero_grad()
        criterion(net(xt), yt).backward()
        optimizer.step()
    return step


def _worker(conn, framework, name, state, x, y, threads, warmup):
    """Build one engine's step, warm up, then answer "step" (ms of one step), "peak" (sgemm GFLOP/s), "stop" (RSS)."""
    if framework.startswith("minidl"):
        if framework == "minidl numpy":
            os.environ["MINIDL_COMPILED"] = "0"  # this worker's own environment (spawned)
        host_memory.keep_freed_memory()  # the fast CPU path, as hpa's training commands run it
        base = _rss_mib()
        step = _minidl_step(name, state, x, y)
    else:
        import torch  # noqa: F401  (counted in the baseline, not in the network's memory)
        base = _rss_mib()
        step = _torch_step(name, state, x, y, framework.endswith("channels_last"), threads)
    for _ in range(warmup):
        step()
    conn.send("ready")
    while (message := conn.recv()) != "stop":
        conn.send(_seconds(step) * 1e3 if message == "step" else sgemm_peak())
    conn.send((_peak_rss_mib(), base))


def measure(name, frameworks, repeat, warmup, threads):
    """{framework: (median ms, peak RSS MiB, RSS after imports MiB)}, flops, sgemm peak GFLOP/s."""
    builder, shape = NETWORKS[name]
    rng.manual_seed(0)
    model = builder()
    generator = numpy.random.default_rng(0)
    x = generator.random(shape, dtype=numpy.float32)
    y = (generator.random((shape[0], 28)) < 0.1).astype(numpy.float32)
    flops, state = step_flops(model, x), dict(model.state_dict())
    del model
    # Fresh processes: RSS is each engine's own, and NumPy loads without the OpenBLAS overrides.
    context = multiprocessing.get_context("spawn")
    workers = {}
    with blas.without_overrides():
        for framework in frameworks:
            parent, child = context.Pipe()
            process = context.Process(target=_worker, args=(child, framework, name, state, x, y, threads, warmup))
            process.start()
            workers[framework] = (parent, process)
    for parent, _ in workers.values():
        parent.recv()  # "ready": built and warmed up
    # The peak is measured once every worker is idle: while the others still
    # imported and warmed up, it read half of what it reads alone.
    workers["minidl"][0].send("peak")
    peak = workers["minidl"][0].recv()
    times = {f: [] for f in frameworks}
    for _ in range(repeat):  # in turns: every engine sees the same load
        for framework, (parent, _) in workers.items():
            parent.send("step")
            times[framework].append(parent.recv())
    results = {}
    for framework, (parent, process) in workers.items():
        parent.send("stop")
        rss, base = parent.recv()
        process.join()
        results[framework] = (statistics.median(times[framework]), rss, base)
    return results, flops, peak


def format_rows(name, results, flops, peak):
    best_torch = min((ms for f, (ms, _, _) in results.items() if not f.startswith("minidl")), default=None)
    lines = []
    for framework, (ms, rss, base) in results.items():
        gflops = flops / ms / 1e6
        ratio = f"{ms / best_torch:>9.2f}x" if best_torch else f"{'-':>10}"
        lines.append(f"{name:<22} {framework:<20} {ms:>8.0f} {gflops:>8.1f} {100 * gflops / peak:>6.1f}% "
                     f"{rss:>9.0f} {rss - base:>9.0f} {ratio}")
    return lines


def run(args):
    """Print the table for ``args`` (repeat, warmup, threads, only, no_torch)."""
    names = [n for n in NETWORKS if args.only in n]
    frameworks = FRAMEWORKS
    if args.no_torch or importlib.util.find_spec("torch") is None:
        frameworks = FRAMEWORKS[:1]
    if args.no_compiled:
        os.environ["MINIDL_COMPILED"] = "0"  # inherited by the workers
    elif compiled.enabled():
        frameworks = ("minidl", "minidl numpy") + frameworks[1:]
    threads = args.threads or os.cpu_count() or 1
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)  # the workers' BLAS and OpenMP pools
    print(f"training step (forward, BCE loss, backward, Adam), float32, {threads} threads, "
          f"median of {args.repeat} steps after {args.warmup} warm-up; load average "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"numpy {numpy.__version__}, {blas.header_line(workers=True)}")
    state = "on" if compiled.enabled() else "off" if compiled.AVAILABLE else "not installed"
    print(f"minidl's compiled kernels (minidl.compiled, numba): {state}"
          + ("; 'minidl numpy' runs without them" if "minidl numpy" in frameworks else ""))
    head = (f"{'network':<22} {'engine':<20} {'ms/step':>8} {'GFLOP/s':>8} {'%peak':>7} "
            f"{'RSS MiB':>9} {'>imports':>9} {'vs torch best':>10}")
    print(head)
    print("-" * len(head))
    notes = []
    for name in names:
        try:
            results, flops, peak = measure(name, frameworks, args.repeat, args.warmup, threads)
        except ImportError as error:
            print(f"{name:<22} skipped ({error})")
            continue
        print("\n".join(format_rows(name, results, flops, peak)), flush=True)
        notes.append(f"{name}: {flops / 1e9:.1f} GFLOP per step; numpy sgemm peak {peak:.0f} GFLOP/s")
    print("\n".join(notes))
    print(f"load average at the end {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hpa.bench.steps", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed steps per engine (median printed)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    parser.add_argument("--only", default="", help="run only the networks whose name contains this text")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    parser.add_argument("--threads", type=int, default=None, help="threads per worker (default: the CPU count)")
    parser.add_argument("--no-compiled", action="store_true",
                        help="minidl without its compiled kernels (MINIDL_COMPILED=0): the NumPy path only")
    args = parser.parse_args(argv)
    if not any(args.only in n for n in NETWORKS):
        parser.error(f"--only {args.only!r} matches no network: {', '.join(NETWORKS)}")
    if args.repeat < 1 or args.warmup < 0 or (args.threads or 1) < 1:
        parser.error("--repeat and --threads must be >= 1, --warmup >= 0")
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark data-parallel training: one parallel-LeNet training step, 1 process against K.

    python -m hpa.bench.distributed [--batch-size 64] [--image-size 128] [--steps 8] [--repeats 2]
    python -m hpa.bench.distributed --device gpu --ranks 2     # 1 GPU against 2 GPUs over NCCL

On the CPU it compares, for the same global batch:

* 1 process with 1 thread, the reference;
* 1 process with K threads (NumPy's BLAS and OpenMP use them): the plain step;
* K processes (``mpiexec -n K``) with 1 thread each, each on its 1/K of the
  batch, with SyncBatchNorm and the gradients averaged by all-reduce.

For each it prints the median time of one step, samples per second, and the
time per step spent in collective calls: the gradient all-reduce alone, and
all of them (SyncBatchNorm's included). A collective call also waits for the
slowest rank to arrive, so on a busy machine that time includes imbalance,
not only communication. Configurations alternate (A B A B ...) and the best
repeat is shown, so a burst of load from other processes hurts both alike;
still, figures from a shared machine are noisy, and the load average is printed.
Every configuration runs in fresh processes started without the OpenBLAS
overrides (``minidl.bench.blas``), with minidl's fast CPU path
(``minidl.host_memory``), as hpa's training commands run it.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

import minidl as md
import minidl.distributed as dist
from hpa.models import build_model
from minidl import host_memory
from minidl.bench import blas
from minidl.distributed.launch import mpiexec_command, single_thread_environment


class TimedGroup(dist.ProcessGroup):
    """A process group that adds the seconds of every collective call to ``seconds``."""

    def __init__(self, group):
        self.group, self.rank, self.size, self.seconds = group, group.rank, group.size, 0.0

    def _timed(self, name, *args, **kwargs):
        start = time.perf_counter()
        try:
            return getattr(self.group, name)(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start

    def allreduce(self, *args, **kwargs):
        return self._timed("allreduce", *args, **kwargs)

    def broadcast(self, *args, **kwargs):
        return self._timed("broadcast", *args, **kwargs)

    def allgather(self, *args, **kwargs):
        return self._timed("allgather", *args, **kwargs)

    def barrier(self, *args, **kwargs):
        return self._timed("barrier", *args, **kwargs)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hpa.bench.distributed", description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64, help="global batch (default 64)")
    parser.add_argument("--image-size", type=int, default=128, help="image side (default 128)")
    parser.add_argument("--ranks", type=int, default=2, help="processes of the parallel run, K (default 2)")
    parser.add_argument("--steps", type=int, default=8, help="timed steps per measurement (default 8)")
    parser.add_argument("--repeats", type=int, default=2, help="measurements per configuration (default 2)")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu", help="gpu: NCCL between GPUs")
    parser.add_argument("--worker", choices=("one", "single", "parallel"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.batch_size, args.image_size, args.ranks, args.steps, args.repeats) < 1:
        parser.error("every number must be at least 1")
    if args.batch_size < args.ranks:
        parser.error(f"--batch-size {args.batch_size} must be at least --ranks {args.ranks}")
    return args


def worker(args):
    """Time ``args.steps`` training steps in this process; rank 0 prints one JSON line."""
    host_memory.keep_freed_memory()
    md.use(args.device)
    group = TimedGroup(dist.init_process_group("nccl" if args.device == "gpu" else "mpi")
                       if args.worker == "parallel" else dist.SingleProcessGroup())
    md.manual_seed(0)
    model = build_model("parallel_lenet", image_size=args.image_size).to(args.device)
    if group.size > 1:
        model = dist.SyncBatchNorm.convert_sync_batchnorm(model, group)
        dist.broadcast_module(model, group)
    sync = dist.GradientAllReduce(model.parameters(), group)
    criterion, optimizer = md.BCEWithLogitsLoss(), md.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(group.rank)
    rows = len(dist.shard(range(args.batch_size), group.rank, group.size))
    x = md.to_device(rng.standard_normal((rows, 4, args.image_size, args.image_size)).astype(np.float32))
    y = md.to_device((rng.random((rows, 28)) < 0.1).astype(np.float32))

    def step():
        model.zero_grad()
        criterion(model(x), y)
        model.backward(criterion.backward())
        sync()
        optimizer.step()
        md.to_numpy(model.parameters()[-1].data[:1])  # wait for the GPU, if any

    for _ in range(2):  # warm up: first-touch page faults, CuPy kernel compilation
        step()
    group.barrier()
    times = []
    group.seconds = sync.seconds = 0.0
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    if group.rank == 0:
        print("RESULT " + json.dumps({"step": statistics.median(times), "gradient_allreduce": sync.seconds / args.steps,
                                      "collectives": group.seconds / args.steps}), flush=True)


def measure(args, mode):
    """Run one configuration in fresh processes; returns rank 0's figures."""
    common = ["-m", "hpa.bench.distributed", "--worker", mode, "--batch-size", str(args.batch_size),
              "--image-size", str(args.image_size), "--steps", str(args.steps), "--device", args.device]
    if mode in ("one", "single"):
        command, env = [sys.executable, *common], single_thread_environment(1 if mode == "one" else args.ranks)
    else:
        command, env = mpiexec_command(args.ranks, common), single_thread_environment(1)
    done = subprocess.run(command, capture_output=True, text=True, env=blas.users_environment(env))
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        sys.exit(f"error: the {mode} run failed:\n{done.stdout}{done.stderr}")
    return json.loads(lines[0][len("RESULT "):])


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    k = args.ranks
    labels = {"one": "1 process x 1 thread", "single": f"1 process x {k} threads",
              "parallel": f"{k} processes x 1 thread (MPI)"}
    if args.device == "gpu":
        labels = {"single": "1 GPU", "parallel": f"{k} GPUs (NCCL)"}
    print(f"parallel LeNet training step, global batch {args.batch_size}, {args.image_size} px, float32, "
          f"{args.device}; median of {args.steps} steps, best of {args.repeats} repeats; "
          f"load average {os.getloadavg()[0]:.2f} (other processes share this machine)")
    print(blas.header_line(workers=True))
    results = {mode: [] for mode in labels}
    for _ in range(args.repeats):
        for mode in labels:
            results[mode].append(measure(args, mode))
    print(f"{'configuration':<32} {'step ms':>9} {'samples/s':>10} {'grad all-reduce ms':>19} "
          f"{'all collectives ms':>19}")
    best = {mode: min(runs, key=lambda r: r["step"]) for mode, runs in results.items()}
    for mode, r in best.items():
        print(f"{labels[mode]:<32} {1e3 * r['step']:>9.1f} {args.batch_size / r['step']:>10.1f} "
              f"{1e3 * r['gradient_allreduce']:>19.2f} {1e3 * r['collectives']:>19.2f}")
    print(f"speed-up of {labels['parallel']} over {labels['single']}: "
          f"{best['single']['step'] / best['parallel']['step']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

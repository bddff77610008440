"""Where a training step's time goes, per op implementation, with and without the compiled kernels.

    python -m minidl.bench.op_profile --network hpa.models:ParallelLeNet --batch 32,4,128,128
    python -m minidl.bench.op_profile --network hpa.bench.steps:plain_parallel_lenet --batch 32,4,128,128

``--network module:callable`` builds the network (no arguments). One step is
forward, BCE-with-logits loss, zero_grad, backward and an Adam step, as in
``hpa.bench.steps``. Every ops-table lookup is wrapped so that each call of an
implementation's forward, backward or update is timed. The step runs
``--repeat`` times with the compiled kernels on and as often with them off
(``minidl.compiled.off()``: the NumPy path), alternating, and the table gives
per (op, implementation, phase) the median milliseconds per step, the step's
median, and what is outside the ops table (loss, containers, Python).
"""
import argparse
import collections
import importlib
import statistics
import sys
import time

import numpy

from minidl import compiled, host_memory, losses, ops, optim, rng
from minidl.bench import blas

_spent = collections.defaultdict(float)


class Timed:
    """An implementation whose forward/backward/update calls add their seconds to ``_spent``."""

    def __init__(self, op, impl):
        self.op, self.impl = op, impl
        self.label = getattr(getattr(impl, "module", impl), "__name__", str(impl)).rsplit(".", 1)[-1]

    def __getattr__(self, name):
        function = getattr(self.impl, name)
        if name not in ("forward", "backward", "update"):
            return function

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                _spent[(self.op, self.label, name)] += time.perf_counter() - start
        return timed


def _step(model, x, y):
    criterion, optimizer = losses.BCEWithLogitsLoss(), optim.Adam(model.parameters(), lr=1e-3)

    def step():
        criterion(model(x), y)
        model.zero_grad()
        model.backward(criterion.backward())
        optimizer.step()
    return step


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m minidl.bench.op_profile", description=__doc__.splitlines()[0])
    parser.add_argument("--network", required=True, help="module:callable building the network")
    parser.add_argument("--batch", default="32,4,128,128", help="input shape N,C,H,W")
    parser.add_argument("--classes", type=int, default=28)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    module, _, name = args.network.partition(":")
    rng.manual_seed(0)
    model = getattr(importlib.import_module(module), name)()
    shape = tuple(int(s) for s in args.batch.split(","))
    gen = numpy.random.default_rng(0)
    x = gen.random(shape, dtype=numpy.float32)
    y = (gen.random((shape[0], args.classes)) < 0.1).astype(numpy.float32)
    host_memory.keep_freed_memory()
    step = _step(model, x, y)
    lookup = ops.implementation
    ops.implementation = lambda op, x, **kw: Timed(op, lookup(op, x, **kw))
    paths = {"compiled": compiled.AVAILABLE and compiled.enabled(), "numpy": True}
    per_call = {p: collections.defaultdict(list) for p in paths if paths[p]}
    totals, outside = {p: [] for p in per_call}, {p: [] for p in per_call}
    for _ in range(1 + args.repeat):  # the first round warms up (numba compiles or loads)
        for path in per_call:
            _spent.clear()
            start = time.perf_counter()
            if path == "numpy":
                with compiled.off():
                    step()
            else:
                step()
            totals[path].append((time.perf_counter() - start) * 1e3)
            outside[path].append(totals[path][-1] - 1e3 * sum(_spent.values()))
            for key, seconds in _spent.items():
                per_call[path][key].append(seconds * 1e3)
    print(f"{blas.header_line()}; median of {args.repeat} steps per path after one warm-up, alternating")
    def numpy_ms(key):  # the NumPy path's time of (op, phase), to sort the rows
        return max((statistics.median(v[1:]) for k, v in per_call["numpy"].items() if (k[0], k[2]) == key),
                   default=0.0)
    keys = sorted({(k[0], k[2]) for p in per_call.values() for k in p}, key=lambda k: -numpy_ms(k))
    print(f"{'op':<16} {'phase':<9} " + " ".join(f"{p + ' impl':<22} {'ms':>7}" for p in per_call))
    for key in keys:
        cells = []
        for path, values in per_call.items():
            found = [(k, v) for k, v in values.items() if (k[0], k[2]) == key]
            impl, ms = (found[0][0][1], statistics.median(found[0][1][1:])) if found else ("-", 0.0)
            cells.append(f"{impl:<22} {ms:>7.1f}")
        print(f"{key[0]:<16} {key[1]:<9} " + " ".join(cells))
    for label, pick in (("step", lambda p: statistics.median(totals[p][1:])),
                        ("outside ops", lambda p: statistics.median(outside[p][1:]))):
        print(f"{label:<26} " + " ".join(f"{'':<22} {pick(p):>7.1f}" for p in per_call))
    return 0


if __name__ == "__main__":
    sys.exit(blas.main_as_users_run("minidl.bench.op_profile", main))

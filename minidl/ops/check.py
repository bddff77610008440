"""``python -m minidl.ops --check``: every op's references gradient-checked, every fast
implementation compared with its reference, as one table a learner can read.

For each op, on its ``CASES`` (``registry.Case``, declared beside the reference):

* reference, float64: ``minidl.gradcheck.check_module`` (central differences
  against a random upstream gradient, every input and parameter) through a
  small Module that calls the op's functions; the error shown is the worst
  relative error over the cases (the backward column; forward is the reference
  itself). Tie cases are skipped: a tie is a kink.
* every registered implementation for the current device, float64 and float32:
  forward outputs and every gradient against the reference's on the same
  arrays, as the worst normwise relative error max|a - r| / max|r|. Cases the
  implementation declines (its ``supports``) are not counted.

Optimizer ops have no gradient to check: their implementations are compared
with the reference over three update steps (parameter and state).
"""
from dataclasses import dataclass, field

import numpy

from minidl import backend, gradcheck, rng
from minidl.module import Module, Parameter
from minidl.ops import registry

# Worst normwise relative error accepted between an implementation and its reference.
TOLERANCE = {"float64": 1e-10, "float32": 1e-4}
GRADCHECK_TOL = 1e-6


@dataclass
class Row:
    op: str
    implementation: str
    forward: float = 0.0
    backward: float = 0.0
    cases: int = 0
    failures: list = field(default_factory=list)

    @property
    def passed(self):
        return not self.failures


class _OpModule(Module):
    """A layer-like op (or a loss, ``loss=True``) as a Module, so ``gradcheck`` can check it."""

    def __init__(self, impl, params, buffers, hyper, targets=None):
        super().__init__()
        self._impl, self._hyper, self._loss = impl, hyper, targets is not None
        self._slots = []  # Parameter, or None for an absent parameter
        for i, p in enumerate(params):
            self._slots.append(None if p is None else Parameter(p))
            if p is not None:
                setattr(self, f"param{i}", self._slots[-1])
        for i, b in enumerate(buffers):
            self.register_buffer(f"buffer{i}", b)
        if self._loss:  # a buffer: it moves with the module (the fake-device pass of gradcheck)
            self.register_buffer("targets", targets)

    def forward(self, x):
        if self._loss:  # a loss: the scalar loss as a 0-d array
            loss, saved = self._impl.forward(x, self._buffers["targets"], **self._hyper)
            self.save_for_backward(saved)
            return backend.get_array_module(x).asarray(loss, dtype=x.dtype)
        args = [None if p is None else p.data for p in self._slots]
        args += [self._buffers[f"buffer{i}"] for i in range(len(self._buffers) - self._loss)]
        y, saved = self._impl.forward(x, *args, **self._hyper)[:2]
        self.save_for_backward(saved)
        return y

    def backward(self, dy):
        (saved,) = self.saved()
        if self._loss:
            return self._impl.backward(saved, **self._hyper) * dy
        dx, *grads = self._impl.backward(dy, saved, **self._hyper)
        for slot, g in zip(self._slots, grads):
            if slot is not None:
                slot.grad += g
        return dx


def _arrays(case, dtype, gen, device):
    """x, params, buffers and targets of ``case`` on ``device``, drawn from ``gen``."""
    put = (lambda a: backend.to_device(a, device)) if device == "gpu" else (lambda a: a)
    x = gen.integers(-2, 3, case.x) if case.ties else gen.standard_normal(case.x)
    params = [None if s is None else put(gen.standard_normal(s).astype(dtype)) for s in case.params]
    buffers = [put(gen.uniform(0.5, 1.5, s).astype(dtype)) for s in case.buffers]
    targets = None if case.targets is None else put(numpy.asarray(case.targets(gen, case.x, dtype)))
    return put(numpy.asarray(x, dtype=dtype)), params, buffers, targets


def _error(got, want):
    got, want = backend.to_numpy(got).astype(numpy.float64), backend.to_numpy(want).astype(numpy.float64)
    if got.shape != want.shape:
        return float("inf")
    scale = max(float(numpy.max(numpy.abs(want), initial=0.0)), 1e-30)
    return float(numpy.max(numpy.abs(got - want), initial=0.0)) / scale


def _flat(values):
    """Arrays of a forward's outputs or a backward's gradients, None kept, nested tuples flattened."""
    out = []
    for v in values if isinstance(values, (tuple, list)) else (values,):
        out.extend(_flat(v) if isinstance(v, (tuple, list)) else [v])
    return out


def _compare_lists(got, want):
    errors = []
    for g, w in zip(_flat(got), _flat(want), strict=True):
        if (g is None) != (w is None):
            return float("inf")
        if g is not None and hasattr(w, "shape"):
            errors.append(float("inf") if getattr(g, "dtype", None) != w.dtype else _error(g, w))
        elif g is not None and g != w:
            return float("inf")
    return max(errors, default=0.0)


def _run_layer(impl, case, x, params, buffers, targets, dy_gen):
    """Forward outputs and gradients of a layer-like op or loss on one case."""
    rng.manual_seed(0)  # same dropout mask for every implementation
    hyper = case.hyper
    if targets is not None:
        loss, saved = impl.forward(x.copy(), targets, **hyper)
        # A Python float (the references) or a 0-d array on x's device (a fused kernel's): as a 0-d array.
        return [backend.get_array_module(x).asarray(loss, dtype=x.dtype)], [impl.backward(saved, **hyper)]
    out = impl.forward(x.copy(), *params, *[b.copy() for b in buffers], **hyper)
    y, saved, extras = out[0], out[1], list(out[2:])
    dy = backend.get_array_module(y).asarray(dy_gen.standard_normal(y.shape).astype(y.dtype))
    return [y] + extras, list(impl.backward(dy, saved, **hyper))


def _run_optimizer(impl, case, x, gen):
    param, state = x.copy(), {}
    grads = [backend.get_array_module(x).asarray(gen.standard_normal(x.shape).astype(x.dtype)) for _ in range(3)]
    for g in grads:
        impl.update(param, g, state, **case.hyper)
    return [param], [state[k] for k in sorted(state) if hasattr(state[k], "shape")]


def _gradcheck(op, case, device):
    gen = numpy.random.default_rng(0)
    x, params, buffers, targets = _arrays(case, numpy.float64, gen, device)
    module = _OpModule(op.reference, params, buffers, case.hyper, targets)
    report = gradcheck.check_module(module, x, tol=GRADCHECK_TOL, raise_on_failure=False,
                                    check_input=case.hyper.get("input_grad", True))
    return report.max_raw_rel_error, report.passed


def check_op(op, device="cpu", dtypes=("float64", "float32"), cases=None):
    """Rows for ``op``: its reference's gradient check, then one per registered implementation
    (on ``cases``, default the op's own)."""
    rows = []
    cases = op.cases if cases is None else cases
    if op.kind != "optimizer":
        row = Row(op.name, "reference (gradcheck)")
        for case in cases:
            if case.gradcheck:
                error, ok = _gradcheck(op, case, device)
                row.backward, row.cases = max(row.backward, error), row.cases + 1
                if not ok:
                    row.failures.append(f"{case.label}: gradient error {error:.2e}")
        rows.append(row)
    for candidate in op.candidates(device):
        rows.append(_compare_implementation(op, candidate, device, dtypes, cases))
    return rows


def _compare_implementation(op, candidate, device, dtypes, cases):
    row = Row(op.name, candidate.name)
    supports = getattr(candidate.impl, "supports", None)
    for case in cases:
        for dtype in dtypes:
            gen = numpy.random.default_rng(1)
            x, params, buffers, targets = _arrays(case, dtype, gen, device)
            if supports is not None and not supports(x, **case.hyper):
                continue
            results = []
            for impl in (op.reference, candidate.impl):
                try:
                    if op.kind == "optimizer":
                        results.append(_run_optimizer(impl, case, x, numpy.random.default_rng(2)))
                    else:
                        results.append(_run_layer(impl, case, x, params, buffers, targets, numpy.random.default_rng(2)))
                except Exception as error:  # a crash is a failure of this row, not of the table
                    results.append(error)
            row.cases += 1
            if any(isinstance(r, Exception) for r in results):
                row.failures.append(f"{case.label} {dtype}: {next(r for r in results if isinstance(r, Exception))!r}")
                continue
            (want_f, want_b), (got_f, got_b) = results
            fwd, bwd = _compare_lists(got_f, want_f), _compare_lists(got_b, want_b)
            row.forward, row.backward = max(row.forward, fwd), max(row.backward, bwd)
            if max(fwd, bwd) > TOLERANCE[dtype]:
                row.failures.append(f"{case.label} {dtype}: forward {fwd:.2e} backward {bwd:.2e}")
    return row


def run(names=None, device="cpu"):
    """All rows (``names``: only these ops)."""
    chosen = registry.ops() if names is None else {n: registry.get(n) for n in names}
    return [row for op in chosen.values() for row in check_op(op, device)]


def render(rows):
    lines = [f"{'op':<26} {'implementation':<24} {'cases':>5} {'fwd err':>9} {'bwd err':>9}  result"]
    for r in rows:
        fwd = "-" if r.implementation.startswith("reference") else f"{r.forward:.1e}"
        lines.append(f"{r.op:<26} {r.implementation:<24} {r.cases:>5} {fwd:>9} {r.backward:>9.1e}  "
                     + ("pass" if r.passed else "FAIL"))
        lines.extend(f"    {failure}" for failure in r.failures)
    return "\n".join(lines)

"""Check a module's or a loss's backward pass against central differences.

For a module ``y = f(x; W)`` we draw a random upstream gradient ``g`` (never
all ones: the sum of a batch-norm output does not depend on its input, so a
check against ``sum(y)`` proves nothing) and compare the analytic gradients of
the scalar ``L = sum(f(x; W) * g)`` with

    dL/dθ_i ≈ (L(θ + ε e_i) - L(θ - ε e_i)) / (2ε)

element by element for small tensors, and along random directions ``v`` for
large ones (``dL/dθ · v`` against ``(L(θ + εv) - L(θ - εv)) / 2ε``).

Everything runs in float64. Random layers (dropout) are reseeded before every
forward pass, so the numerical and the analytic pass see the same mask; buffers
changed by training-mode forwards (batch-norm running statistics) are restored
afterwards. In the fake-device test pass (``MINIDL_TEST_DEVICE=fake``) host
modules and inputs are checked on the fake device, i.e. through the GPU code
paths and kernels, and the module is moved back to the host afterwards.

The relative error of element ``i`` is

    max(|a_i - n_i| - r, 0) / max(|a_i|, |n_i|, s)

where ``s = 1e-3 * max|n|`` over the tensor, so an entry far below the
tensor's scale is judged against that scale, not against its own tiny size,
and ``r = u sum|y * g| / ε`` (u = 2.2e-16, float64's machine epsilon) bounds the
round-off of the finite difference itself. Without ``r`` a gradient that is
exactly zero by structure (a convolution bias followed by batch norm) would
fail: its numerical estimate is pure round-off, say 1e-11, against an analytic
1e-15. ``r`` is around 1e-9 for the small tensors of a check, far below any
real error.
"""
from dataclasses import dataclass, field

import numpy

from minidl import backend, rng


class GradcheckError(AssertionError):
    pass


@dataclass
class TensorResult:
    name: str
    max_rel_error: float
    worst_index: tuple
    analytic: float
    numerical: float
    mode: str  # "elementwise" or "directions"
    raw_rel_error: float = 0.0  # the same without the round-off allowance, for information


@dataclass
class GradcheckReport:
    results: list = field(default_factory=list)

    @property
    def max_rel_error(self):
        return max((r.max_rel_error for r in self.results), default=0.0)

    @property
    def max_raw_rel_error(self):
        return max((r.raw_rel_error for r in self.results), default=0.0)

    def worst(self):
        return max(self.results, key=lambda r: r.max_rel_error)

    def __str__(self):
        rows = [f"{r.name:<32} {r.mode:<11} max rel err {r.max_rel_error:.2e} "
                f"(before round-off allowance {r.raw_rel_error:.2e}) at {r.worst_index}: "
                f"analytic {r.analytic:.10g}, numerical {r.numerical:.10g}" for r in self.results]
        return "\n".join(rows)


def _rel_errors(analytic, numerical, roundoff):
    scale = max(1e-3 * float(numpy.max(numpy.abs(numerical), initial=0.0)), 1e-12)
    denom = numpy.maximum(numpy.maximum(numpy.abs(analytic), numpy.abs(numerical)), scale)
    return numpy.maximum(numpy.abs(analytic - numerical) - roundoff, 0.0) / denom


def _roundoff(objective, eps):
    """Bound on the round-off of one central difference of ``objective()``."""
    y, weight = objective()
    xp = backend.get_array_module(y)
    magnitude = float(xp.sum(xp.abs(y * weight)))
    return numpy.finfo(numpy.float64).eps * magnitude / eps


def _compare(name, array, analytic, objective, eps, max_elements, n_directions, seed):
    """Numerical vs analytic gradient w.r.t. ``array`` (perturbed in place).

    ``objective()`` returns the output and the upstream gradient it is weighted
    by; outputs are subtracted before they are summed, so the many terms that a
    perturbation leaves unchanged cancel exactly instead of adding round-off.
    """
    analytic = backend.to_numpy(analytic).astype(numpy.float64)
    xp = backend.get_array_module(array)
    roundoff = _roundoff(objective, eps)
    if array.size <= max_elements:
        numerical = numpy.empty(array.shape)
        flat = array.reshape(-1)  # a view: perturbing it perturbs ``array``
        for i in range(array.size):
            saved = flat[i].copy()
            flat[i] = saved + eps
            plus = objective()
            flat[i] = saved - eps
            minus = objective()
            flat[i] = saved
            numerical.flat[i] = _difference(plus, minus, eps)
        errors = _rel_errors(analytic, numerical, roundoff)
        k = int(numpy.argmax(errors))
        index = numpy.unravel_index(k, array.shape)
        return TensorResult(name, float(errors.flat[k]), tuple(int(i) for i in index),
                            float(analytic.flat[k]), float(numerical.flat[k]), "elementwise",
                            float(_rel_errors(analytic, numerical, 0.0).max()))
    directions = numpy.random.default_rng(seed).standard_normal((n_directions,) + array.shape)
    # Unit directions: a step of length eps, whatever the tensor's size.
    directions /= numpy.sqrt(numpy.sum(directions ** 2, axis=tuple(range(1, directions.ndim)), keepdims=True))
    a = numpy.tensordot(directions, analytic, axes=analytic.ndim)
    n = numpy.empty(n_directions)
    saved = array.copy()
    for d in range(n_directions):
        step = xp.asarray(eps * directions[d])
        array[...] = saved + step
        plus = objective()
        array[...] = saved - step
        minus = objective()
        n[d] = _difference(plus, minus, eps)
    array[...] = saved
    errors = _rel_errors(a, n, roundoff)
    k = int(numpy.argmax(errors))
    return TensorResult(name, float(errors[k]), (k,), float(a[k]), float(n[k]), "directions",
                        float(_rel_errors(a, n, 0.0).max()))


def _difference(plus, minus, eps):
    (y_plus, weight), (y_minus, _) = plus, minus
    xp = backend.get_array_module(y_plus)
    return float(xp.sum((y_plus - y_minus) * weight)) / (2 * eps)


def check_module(module, x, *, eps=1e-5, tol=1e-6, max_elements=400, n_directions=12,
                 seed=0, check_input=True, raise_on_failure=True):
    """Gradient-check ``module`` at input ``x`` for the input and every parameter.

    The module is cast to float64 in place (cast it back if you keep using it).
    Returns a :class:`GradcheckReport`; raises :class:`GradcheckError` naming the
    worst tensor, index, both values and the relative error when ``tol`` is exceeded.
    """
    on_test_device = backend.test_device() is not None and not backend.is_device_array(x)
    if on_test_device:
        module.to("gpu")
        x = backend.to_device(x, "gpu")
    try:
        return _check_module(module, x, eps, tol, max_elements, n_directions, seed, check_input, raise_on_failure)
    finally:
        if on_test_device:
            module.to("cpu")


def _check_module(module, x, eps, tol, max_elements, n_directions, seed, check_input, raise_on_failure):
    xp = backend.get_array_module(x)
    module.astype(numpy.float64)
    x = xp.array(x, dtype=numpy.float64)
    saved_buffers = {name: b.copy() for name, b in module.named_buffers()}

    def run(inp):
        rng.manual_seed(seed)  # same dropout mask on every pass
        return module.forward(inp)

    y = run(x)
    upstream = xp.asarray(numpy.random.default_rng(seed + 1).standard_normal(y.shape))
    module.zero_grad()
    dx = module.backward(upstream)
    params = list(module.named_parameters())
    analytic = {name: p.grad.copy() for name, p in params}

    def objective():
        # A copy: a module may return a view of x, which the next perturbation would change.
        return run(x).copy(), upstream

    report = GradcheckReport()
    if check_input:
        report.results.append(_compare("input", x, dx, objective, eps, max_elements, n_directions, seed))
    for name, p in params:
        report.results.append(_compare(name, p.data, analytic[name], objective, eps,
                                       max_elements, n_directions, seed))
    for name, value in saved_buffers.items():
        _set_buffer(module, name, value)
    return _finish(report, tol, raise_on_failure)


def check_loss(loss, logits, targets, *, eps=1e-5, tol=1e-6, max_elements=400,
               n_directions=12, seed=0, raise_on_failure=True):
    """Gradient-check a loss: ``loss.backward()`` against the numerical gradient
    of ``loss.forward(logits, targets)`` with respect to the logits (on the fake
    device in the fake-device test pass)."""
    if backend.test_device() is not None and not backend.is_device_array(logits):
        logits, targets = backend.to_device(logits, "gpu"), backend.to_device(targets, "gpu")
    xp = backend.get_array_module(logits)
    logits = xp.array(logits, dtype=numpy.float64)
    targets = xp.asarray(targets, dtype=numpy.float64)
    loss.forward(logits, targets)
    analytic = loss.backward()

    def objective():
        return xp.asarray(float(loss.forward(logits, targets))), 1.0

    report = GradcheckReport([_compare("logits", logits, analytic, objective, eps,
                                       max_elements, n_directions, seed)])
    return _finish(report, tol, raise_on_failure)


def _set_buffer(module, dotted, value):
    *path, name = dotted.split(".")
    for part in path:
        module = module._modules[part]
    module._buffers[name] = value


def _finish(report, tol, raise_on_failure):
    if raise_on_failure and report.max_rel_error > tol:
        w = report.worst()
        raise GradcheckError(f"gradient check failed for {w.name} ({w.mode}) at index {w.worst_index}: "
                             f"analytic {w.analytic:.10g}, numerical {w.numerical:.10g}, "
                             f"relative error {w.max_rel_error:.2e} > {tol:.0e}\n{report}")
    return report

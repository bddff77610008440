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

Before any difference is taken, the backward pass must keep its contract:

* it gets a copy of ``g`` and must not write into it (a layer that overwrites
  its ``dy`` corrupts the gradient of every other consumer of that array);
* ``dx`` has exactly the shape of ``x`` and every ``Parameter.grad`` that of
  its parameter (a (4,) gradient for a (1, 4) input would broadcast silently);
* a second forward/backward without ``zero_grad`` leaves twice the gradient in
  every ``Parameter.grad`` (backward adds, it does not assign) and returns the
  same ``dx``.

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

``r`` can hide an error of up to ``r`` itself, so it must stay small against
the gradient it excuses: a tensor passes only if ``r <= tol * max|n|``. The one
exception is a tensor whose gradient is zero to within round-off (``max|a|``
and ``max|n|`` both ``<= r``) in a check that does resolve other tensors
(``r <= tol * max|n|`` over all of them): that is the structural zero above,
and its analytic gradient is as zero as the check can tell. Any other tensor
with ``r > tol * max|n|`` is *unresolved*, a failure: a module whose output
carries a large constant offset makes ``r`` so large that a gradient wrong by
1% would otherwise pass with an error of 0.
"""
import numpy

from minidl import backend, rng
from minidl.gradcheck_report import GradcheckError, GradcheckReport, TensorResult, finish

__all__ = ["check_module", "check_loss", "GradcheckError", "GradcheckReport", "TensorResult"]


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


def _compare(name, array, analytic, objective, eps, roundoff, max_elements, n_directions, seed):
    """Numerical vs analytic gradient w.r.t. ``array`` (perturbed in place).

    ``objective()`` returns the output and the upstream gradient it is weighted
    by; outputs are subtracted before they are summed, so the many terms that a
    perturbation leaves unchanged cancel exactly instead of adding round-off.
    """
    analytic = backend.to_numpy(analytic).astype(numpy.float64)
    xp = backend.get_array_module(array)
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
        a, n, mode = analytic.reshape(-1), numerical.reshape(-1), "elementwise"
    else:
        directions = numpy.random.default_rng(seed).standard_normal((n_directions,) + array.shape)
        # Unit directions: a step of length eps, whatever the tensor's size.
        directions /= numpy.sqrt(numpy.sum(directions ** 2, axis=tuple(range(1, directions.ndim)),
                                           keepdims=True))
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
        mode = "directions"
    errors = _rel_errors(a, n, roundoff)
    k = int(numpy.argmax(errors))
    index = numpy.unravel_index(k, array.shape) if mode == "elementwise" else (k,)
    return TensorResult(name, float(errors[k]), tuple(int(i) for i in index), float(a[k]), float(n[k]),
                        mode, float(_rel_errors(a, n, 0.0).max()),
                        largest_analytic=float(numpy.max(numpy.abs(a))),
                        largest_numerical=float(numpy.max(numpy.abs(n))))


def _difference(plus, minus, eps):
    (y_plus, weight), (y_minus, _) = plus, minus
    xp = backend.get_array_module(y_plus)
    return float(xp.sum((y_plus - y_minus) * weight)) / (2 * eps)


def _max_abs(array):
    return float(numpy.max(numpy.abs(backend.to_numpy(array)), initial=0.0))


def _contract_problems(x, x_before, dx, upstream, upstream_seen, params, grads_once, dx_again):
    """What the first two backward passes got wrong, as ``(tensor, message)`` pairs."""
    problems = []
    if _max_abs(x - x_before) > 0:
        problems.append(("input", "forward or backward modified the input x in place"))
    if _max_abs(upstream_seen - upstream) > 0:
        problems.append(("upstream", "backward modified its upstream gradient dy in place "
                         f"(largest change {_max_abs(upstream_seen - upstream):.3g}); treat dy as "
                         "read-only, since other consumers of the same array still need it"))
    if dx is not None and tuple(dx.shape) != tuple(x.shape):
        problems.append(("input", f"backward returned dx of shape {tuple(dx.shape)}, but x has shape "
                         f"{tuple(x.shape)}; broadcasting would hide the mismatch"))
    elif dx is not None and _max_abs(dx_again - dx) > 1e-12 * _max_abs(dx):
        problems.append(("input", "a second identical forward/backward returned a different dx "
                         f"(largest difference {_max_abs(dx_again - dx):.3g})"))
    for name, p in params:
        once = grads_once[name]
        if tuple(once.shape) != tuple(p.data.shape):
            problems.append((name, f"gradient of shape {tuple(once.shape)} for a parameter of shape "
                             f"{tuple(p.data.shape)}"))
        elif _max_abs(p.grad - 2 * once) > 1e-12 * _max_abs(2 * once):
            ratio = _max_abs(p.grad) / max(_max_abs(once), 1e-300)
            problems.append((name, "two backward passes without zero_grad left "
                             f"{ratio:.3g} times the gradient of one, expected 2: backward must add "
                             "into Parameter.grad (+=), not assign it"))
    return problems


def check_module(module, x, *, eps=1e-5, tol=1e-6, max_elements=400, n_directions=12,
                 seed=0, check_input=True, raise_on_failure=True):
    """Gradient-check ``module`` at input ``x`` for the input and every parameter.

    The module is cast to float64 in place (cast it back if you keep using it).
    Returns a :class:`GradcheckReport`; raises :class:`GradcheckError` listing
    every failure (a broken contract, see the module doc, or a tensor whose
    relative error exceeds ``tol`` or which the check cannot resolve) with the
    worst index, both values and the relative error.
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
    x_before = x.copy()
    saved_buffers = {name: b.copy() for name, b in module.named_buffers()}

    def run(inp):
        rng.manual_seed(seed)  # same dropout mask on every pass
        return module.forward(inp)

    y = run(x)
    upstream = xp.asarray(numpy.random.default_rng(seed + 1).standard_normal(y.shape))
    upstream_seen = upstream.copy()  # the array backward gets: it must come back unchanged
    module.zero_grad()
    dx = module.backward(upstream_seen)
    params = list(module.named_parameters())
    analytic = {name: p.grad.copy() for name, p in params}
    run(x)  # backward a second time, without zero_grad: the gradients must add up
    dx_again = module.backward(upstream.copy())
    problems = _contract_problems(x, x_before, dx if check_input else None, upstream, upstream_seen,
                                  params, analytic, dx_again)
    x[...] = x_before

    def objective():
        # A copy: a module may return a view of x, which the next perturbation would change.
        return run(x).copy(), upstream

    roundoff = _roundoff(objective, eps)
    report = GradcheckReport(problems=problems, roundoff=roundoff, eps=eps, tol=tol)
    bad_shapes = {name for name, _ in problems if "shape" in _}
    if check_input and "input" not in bad_shapes:
        report.results.append(_compare("input", x, dx, objective, eps, roundoff, max_elements,
                                       n_directions, seed))
    for name, p in params:
        if name not in bad_shapes:
            report.results.append(_compare(name, p.data, analytic[name], objective, eps, roundoff,
                                           max_elements, n_directions, seed))
    for name, value in saved_buffers.items():
        _set_buffer(module, name, value)
    return finish(report, raise_on_failure)


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

    roundoff = _roundoff(objective, eps)
    report = GradcheckReport(roundoff=roundoff, eps=eps, tol=tol)
    if tuple(analytic.shape) != tuple(logits.shape):
        report.problems.append(("logits", f"backward returned a gradient of shape {tuple(analytic.shape)}, "
                                f"but the logits have shape {tuple(logits.shape)}"))
    else:
        report.results.append(_compare("logits", logits, analytic, objective, eps, roundoff,
                                       max_elements, n_directions, seed))
    return finish(report, raise_on_failure)


def _set_buffer(module, dotted, value):
    *path, name = dotted.split(".")
    for part in path:
        module = module._modules[part]
    module._buffers[name] = value

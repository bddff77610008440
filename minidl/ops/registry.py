"""The one table of minidl's operations: op name -> reference + fast implementations per device.

Every op has a REFERENCE, a module of ``minidl/ops`` whose pure functions of
arrays are the math (see ``minidl/ops/__init__.py`` for the calling
conventions). Faster implementations of the same functions register for an op
and a device: ``"cpu"`` for host arrays (``minidl/fast_cpu``), ``"gpu"`` for
device arrays (the CUDA launchers of ``minidl/kernels``)::

    registry.define("conv2d", reference=sys.modules[__name__], cases=CASES)    # in minidl/ops/conv2d.py
    registry.register("conv2d", device="cpu", name="folded_im2col", impl=...)  # in minidl/fast_cpu/...

``implementation(name, x, **hyper)`` picks for the device of ``x`` the
registered implementation with the highest ``priority`` (ties: the first
registered) whose optional ``supports(x, **hyper)`` accepts the call, else the
reference, which serves every device. ``MINIDL_IMPL=reference`` (read at every
lookup) or ``with reference_only():`` make every lookup return the reference.

The table fills itself on first use: it imports every module of ``minidl.ops``
and ``minidl.fast_cpu`` and the ``device_*`` launcher modules of
``minidl.kernels``; each registers what it defines. A new op or
implementation therefore needs no edit here.
"""
import contextlib
import importlib
import os
import pkgutil
import threading
import types
from dataclasses import dataclass, field

from minidl import backend

KINDS = ("layer", "loss", "optimizer")
DEVICES = ("cpu", "gpu")
# Modules that are infrastructure, not ops: never imported by the discovery.
_NOT_OPS = {"registry", "geometry", "check", "table", "__main__"}
_PACKAGES = ("minidl.ops", "minidl.fast_cpu", "minidl.compiled", "minidl.kernels")


class Case:
    """One check case of an op, declared beside its reference (``CASES``), run by ``--check``.

    ``x``: shape of the first input (the logits of a loss, the parameter of an
    optimizer update). ``params``: shapes of the parameter arrays that follow
    it, None for an absent one (a conv without bias); they get gradients.
    ``buffers``: shapes of further inputs drawn in [0.5, 1.5) that get none
    (batch norm's running statistics). ``targets(gen, shape, dtype)``: a loss's
    targets. ``ties``: x drawn from a few integers (many ties, for pooling):
    compared fast vs reference only, never gradient-checked (a tie is a kink).
    ``gradcheck=False`` skips the gradient check for another reason, said in
    the label. Every other keyword is a hyperparameter passed to the op.
    """

    def __init__(self, label, x, params=(), *, buffers=(), targets=None, ties=False, gradcheck=True, **hyper):
        self.label, self.x, self.params, self.buffers = label, tuple(x), tuple(params), tuple(buffers)
        self.targets, self.ties, self.gradcheck, self.hyper = targets, ties, gradcheck and not ties, hyper

    def __repr__(self):
        return f"Case({self.label!r})"


class Functions:
    """A module's functions as an implementation: layers keep it with their saved state,
    and a deepcopy of a layer (a model copied after a forward pass) shares it, since a
    module cannot be copied."""

    def __init__(self, module):
        self.module = module

    def __getattr__(self, name):
        return getattr(self.__dict__["module"], name)

    def __deepcopy__(self, memo):
        return self

    def __repr__(self):
        return f"<functions of {self.module.__name__}>"


def _functions(impl):
    return Functions(impl) if isinstance(impl, types.ModuleType) else impl


@dataclass
class Implementation:
    name: str
    device: str
    impl: object
    priority: int = 0


@dataclass
class Op:
    name: str
    kind: str
    reference: object
    cases: list
    implementations: list = field(default_factory=list)  # Implementation, best first

    def candidates(self, device):
        return [i for i in self.implementations if i.device == device]


_ops = {}
_loaded = False
_load_lock = threading.RLock()
class ThreadSwitch:
    """A switch on for the current thread while inside any ``with switch.on():`` block
    (blocks nest; other threads never see it)."""

    def __init__(self):
        self._local = threading.local()

    @contextlib.contextmanager
    def on(self):
        self._local.depth = getattr(self._local, "depth", 0) + 1
        try:
            yield
        finally:
            self._local.depth -= 1

    def is_on(self):
        return getattr(self._local, "depth", 0) > 0


_references_only = ThreadSwitch()


def define(name, reference, *, kind="layer", cases=()):
    """Declare op ``name`` with its reference (a module or an object with the op's functions)."""
    if kind not in KINDS:
        raise ValueError(f"op {name!r}: kind must be one of {KINDS}, got {kind!r}")
    if name in _ops and getattr(_ops[name].reference, "module", _ops[name].reference) is not reference:
        raise ValueError(f"op {name!r} is defined twice: {_ops[name].reference!r} and {reference!r}")
    reference = _functions(reference)
    op = _ops.setdefault(name, Op(name, kind, reference, list(cases)))
    op.kind, op.cases = kind, list(cases)
    return op


def register(op, *, device, name, impl, priority=0):
    """Register ``impl`` (an object with the op's functions) as implementation ``name`` of
    ``op`` on ``device``; the op module must be imported (defined) first."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if op not in _ops:
        try:
            importlib.import_module(f"minidl.ops.{op}")  # the usual home of op ``op``
        except ModuleNotFoundError:
            _load()  # an op defined in a file of another name
    entry = get(op) if op not in _ops else _ops[op]
    entry.implementations = [i for i in entry.implementations if (i.name, i.device) != (name, device)]
    entry.implementations.append(Implementation(name, device, _functions(impl), priority))
    entry.implementations.sort(key=lambda i: -i.priority)  # stable: ties keep registration order
    return impl


def _load():
    """Import every module that defines or registers ops (once)."""
    global _loaded
    if _loaded:
        return
    with _load_lock:
        if _loaded:
            return
        for package_name in _PACKAGES:
            package = importlib.import_module(package_name)
            for info in pkgutil.iter_modules(package.__path__):
                if info.ispkg or info.name in _NOT_OPS:
                    continue
                if package_name == "minidl.kernels" and not info.name.startswith("device_"):
                    continue
                importlib.import_module(f"{package_name}.{info.name}")
        _loaded = True


def ops():
    """Every op, by name."""
    _load()
    return dict(sorted(_ops.items()))


def get(name):
    """The ``Op`` called ``name``; KeyError naming the known ops otherwise."""
    _load()
    try:
        return _ops[name]
    except KeyError:
        raise KeyError(f"no op {name!r}; known ops: {', '.join(sorted(_ops))}") from None


def reference_requested():
    """True under ``MINIDL_IMPL=reference`` or inside ``reference_only()``."""
    if _references_only.is_on():
        return True
    choice = os.environ.get("MINIDL_IMPL", "")
    if choice in ("", "default", "fast"):
        return False
    if choice == "reference":
        return True
    raise ValueError(f"MINIDL_IMPL={choice!r}: use 'reference' (every op runs its reference) or leave it unset")


def reference_only():
    """Inside the block (this thread), every op lookup returns the op's reference."""
    return _references_only.on()


def device_of(x):
    return "gpu" if backend.is_device_array(x) else "cpu"


def choose(name, device, x=None, exclude=(), **hyper):
    """The ``Implementation`` op ``name`` would run on ``device`` (None: the reference)."""
    if reference_requested():
        return None
    for candidate in get(name).candidates(device):
        if candidate.name in exclude:
            continue
        supports = getattr(candidate.impl, "supports", None)
        if supports is None or x is None or supports(x, **hyper):
            return candidate
    return None


def implementation(name, x, *, exclude=(), **hyper):
    """The functions (module or object) that run op ``name`` on the device of ``x``.

    ``hyper`` (the op's hyperparameters) lets an implementation that serves only
    some calls (2x2 pooling) decline the others; ``exclude`` names
    implementations not to use (a layer option that asks for the general path).
    """
    chosen = choose(name, device_of(x), x, exclude, **hyper)
    return get(name).reference if chosen is None else chosen.impl


def reference(name):
    return get(name).reference

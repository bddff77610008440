"""``OpLayer``: a layer that is one op of ``minidl.ops``, and nothing else.

The layer holds the parameters and buffers; the op (``minidl/ops/<op>.py``, or
a faster registered implementation of it) holds the math. forward asks the
ops table for the implementation that serves its input's device, runs it,
and keeps that implementation with its opaque ``saved`` state; backward runs
the same implementation's backward and adds the parameter gradients into
``.grad``. A subclass names its op and says which arrays and hyperparameters
it passes.
"""
from minidl import ops
from minidl.module import Module


class OpLayer(Module):
    op = None             # the op's name in minidl.ops
    param_names = ()      # Parameters passed after x, in order (None where absent); they get gradients
    buffer_names = ()     # buffers passed after the parameters; no gradients

    def hyper(self):
        """The op's hyperparameters, passed as keywords to forward and backward."""
        return {}

    def _params(self):
        return [getattr(self, name) for name in self.param_names]

    def run_forward(self, x, exclude=(), impl=None):
        """Everything the implementation's forward returned ((y, saved) or more); keeps what
        backward needs. ``impl`` forces an implementation (tests of one against another)."""
        hyper = self.hyper()
        if impl is None:
            impl = ops.implementation(self.op, x, exclude=exclude, **hyper)
        args = [None if p is None else p.data for p in self._params()]
        args += [getattr(self, name) for name in self.buffer_names]
        out = impl.forward(x, *args, **hyper)
        self.save_for_backward(impl, out[1], hyper)
        return out

    def forward(self, x):
        return self.run_forward(x)[0]

    def backward(self, dy):
        impl, saved, hyper = self.saved()
        dx, *grads = impl.backward(dy, saved, **hyper)
        for p, g in zip(self._params(), grads):
            if p is not None and g is not None:
                p.grad += g
        return dx

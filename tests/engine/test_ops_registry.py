"""The ops table: lookup by device, priority, ``supports``, ``exclude`` and the reference switch."""
import types

import numpy
import pytest

from minidl import ops
from minidl.ops import registry


@pytest.fixture
def toy_op():
    """A throwaway op 'toy_double' with a reference and two CPU implementations."""
    def forward(x, **_):
        return 2 * x, None

    def backward(dy, saved, **_):
        return (2 * dy,)

    reference = types.SimpleNamespace(forward=forward, backward=backward)
    registry.define("toy_double", reference, cases=[ops.Case("small", (3,))])
    general = types.SimpleNamespace(forward=forward, backward=backward)
    special = types.SimpleNamespace(forward=forward, backward=backward,
                                    supports=lambda x, size=None, **_: size == 2)
    registry.register("toy_double", device="cpu", name="general", impl=general)
    registry.register("toy_double", device="cpu", name="special", impl=special, priority=1)
    yield reference, general, special
    del registry._ops["toy_double"]


def test_lookup_prefers_priority_then_supports_then_reference(toy_op, monkeypatch):
    monkeypatch.delenv("MINIDL_IMPL", raising=False)
    reference, general, special = toy_op
    x = numpy.zeros(3)
    assert ops.implementation("toy_double", x, size=2) is special
    assert ops.implementation("toy_double", x, size=3) is general  # special declines
    assert ops.implementation("toy_double", x, size=2, exclude=("special", "general")) is reference
    with ops.reference_only():
        assert ops.implementation("toy_double", x, size=2) is reference
    assert ops.implementation("toy_double", x, size=2) is special
    monkeypatch.setenv("MINIDL_IMPL", "reference")
    assert ops.implementation("toy_double", x, size=2) is reference


def test_reregistering_a_name_replaces_it(toy_op, monkeypatch):
    monkeypatch.delenv("MINIDL_IMPL", raising=False)
    reference, general, _ = toy_op
    replacement = types.SimpleNamespace(forward=general.forward, backward=general.backward)
    registry.register("toy_double", device="cpu", name="general", impl=replacement)
    names = [i.name for i in registry.get("toy_double").candidates("cpu")]
    assert names == ["special", "general"]
    assert ops.implementation("toy_double", numpy.zeros(3), size=5) is replacement


def test_unknown_op_and_bad_switch_are_named():
    with pytest.raises(KeyError, match="no op 'nonexistent'"):
        ops.implementation("nonexistent", numpy.zeros(1))
    with pytest.raises(ValueError, match="device must be one of"):
        registry.register("toy", device="tpu", name="x", impl=None)


def test_unknown_minidl_impl_value_is_refused(monkeypatch):
    monkeypatch.setenv("MINIDL_IMPL", "fastest")
    with pytest.raises(ValueError, match="MINIDL_IMPL='fastest'"):
        registry.reference_requested()


def test_an_op_layer_runs_backward_with_the_implementation_its_forward_ran():
    """An OpLayer keeps the implementation of its forward with the saved state, whose
    layout only that implementation reads: switching to the references between forward
    and backward must not hand the 2x2 path's masks to the reference's backward."""
    from minidl.layers.op_layer import OpLayer
    from minidl.layers.pooling import MaxPool2d
    layer = MaxPool2d(2)
    assert isinstance(layer, OpLayer)
    x = numpy.random.default_rng(0).standard_normal((2, 3, 6, 4))
    dy = numpy.random.default_rng(1).standard_normal((2, 3, 3, 2))
    layer(x)
    expected = layer.backward(dy)
    layer(x)
    with ops.reference_only():
        dx = layer.backward(dy)
    numpy.testing.assert_array_equal(dx, expected)
    with ops.reference_only():
        layer(x)
    assert layer.saved()[0] is ops.reference("max_pool2d")
    numpy.testing.assert_array_equal(layer.backward(dy), expected)  # the reference's own backward agrees

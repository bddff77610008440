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

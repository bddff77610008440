"""Inference keeps no activations: ``predict_logits`` runs under ``minidl.no_grad``.

Memory is measured with ``tracemalloc``, which sees every NumPy array, so the
figures are exact byte counts, not timings: after an eval-mode forward pass
outside ``no_grad`` each layer still holds its input for a backward pass;
under ``no_grad`` only the output remains.
"""
import contextlib
import tracemalloc

import numpy as np
import pytest

import minidl as md
from hpa.data.batches.loader import BatchLoader
from hpa.evaluation.inference import predict_logits
from hpa.models import build_model
from minidl import compiled


def _held_and_peak(forward):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        out = forward()
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return out, held - before, peak - before


@pytest.mark.parametrize("path", ["default", "numpy"])
def test_forward_under_no_grad_holds_only_its_output(path):
    """On every CPU path nothing is held under no_grad. The peak bound is the NumPy fast
    path's: the compiled batch norm keeps x itself where the NumPy path keeps a centred
    copy, so it holds 0.5 MB less outside no_grad and the same peak drop (1.4 MB) falls
    just short of half of a smaller total."""
    with compiled.off() if path == "numpy" else contextlib.nullcontext():
        _check_no_grad_forward(peak_bound=path == "numpy")


def _check_no_grad_forward(peak_bound):
    md.manual_seed(0)
    model = build_model("gapnet", image_size=64).eval()
    x = np.random.default_rng(0).standard_normal((8, 4, 64, 64)).astype(np.float32)
    with md.no_grad():  # the layers' reusable workspaces exist before either measurement
        model(x)
    kept, held_kept, peak_kept = _held_and_peak(lambda: model(x))
    for m in model.modules():  # start the second measurement from an empty model
        m.free_saved()

    def without_cache():
        with md.no_grad():
            return model(x)

    free, held_free, peak_free = _held_and_peak(without_cache)
    np.testing.assert_array_equal(kept, free)
    # Every layer keeps its input or a mask: megabytes for 8 images of 64 px.
    assert held_kept > 2_000_000
    assert held_free < 0.02 * held_kept
    if peak_bound:
        assert peak_free < peak_kept - 0.5 * held_kept  # the peak drops by most of what was kept


def test_predict_logits_leaves_no_layer_holding_state():
    md.manual_seed(0)
    model = build_model("parallel_lenet", image_size=32)
    images = np.random.default_rng(1).integers(0, 255, (5, 4, 32, 32), dtype=np.uint8)
    loader = BatchLoader(images, None, batch_size=2, shuffle=False, mean=[0.5] * 4, std=[0.2] * 4)
    logits = predict_logits(model, loader)
    assert logits.shape == (5, 28) and logits.dtype == np.float32
    assert [name for name, m in model.named_modules() if m._saved is not None] == []

"""Helpers of the NaN/inf kernel tests: inputs with NaN, +inf and -inf, and the comparison that
wants them exactly where the host has them."""
import numpy as np

TOLERANCE = {"float64": 1e-12, "float32": 1e-5}


def _same(reference, result, dtype):
    """Equal to round-off where finite; NaN, +inf and -inf at exactly the same places."""
    reference, result = np.asarray(reference, dtype=np.float64), np.asarray(result, dtype=np.float64)
    assert reference.shape == result.shape
    np.testing.assert_array_equal(np.isnan(result), np.isnan(reference), err_msg="NaN positions differ")
    np.testing.assert_array_equal(np.isposinf(result), np.isposinf(reference), err_msg="+inf positions differ")
    np.testing.assert_array_equal(np.isneginf(result), np.isneginf(reference), err_msg="-inf positions differ")
    finite = np.isfinite(reference)
    np.testing.assert_allclose(result[finite], reference[finite], rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])


def _with_nonfinite(array, rng, count=3):
    """``array`` with ``count`` each of NaN, +inf and -inf at random places."""
    out = array.copy()
    flat = out.reshape(-1)
    places = rng.choice(flat.size, 3 * count, replace=False)
    flat[places[:count]] = np.nan
    flat[places[count:2 * count]] = np.inf
    flat[places[2 * count:]] = -np.inf
    return out

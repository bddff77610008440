"""Tests for hpa.data.reading.labels.as_label_matrix, the one check of label matrices."""
import numpy as np
import pytest

from hpa.data.reading.labels import NUM_CLASSES, as_label_matrix
from hpa.runtime.errors import HpaError


@pytest.mark.parametrize("labels", [
    [[1, 0, 1], [0, 0, 1]],
    np.array([[1, 0, 1], [0, 0, 1]], np.uint8),
    np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]], np.float32),
    np.array([[True, False, True], [False, False, True]]),
])
def test_accepts_zero_one_matrices_and_returns_bool(labels):
    y = as_label_matrix(labels)
    assert y.dtype == bool
    np.testing.assert_array_equal(y, [[True, False, True], [False, False, True]])


def test_returns_a_copy_of_a_bool_input_and_reads_a_memmap(tmp_path):
    labels = np.zeros((3, NUM_CLASSES), bool)
    as_label_matrix(labels)[0, 0] = True
    assert not labels.any()
    path = tmp_path / "labels.npy"
    np.save(path, np.eye(3, NUM_CLASSES, dtype=np.uint8))
    y = as_label_matrix(np.load(path, mmap_mode="r"), rows=3, classes=NUM_CLASSES)
    assert type(y) is np.ndarray and y.sum() == 3


@pytest.mark.parametrize("labels, rows, classes, message", [
    (np.zeros(5), None, None, r"expected a non-empty \(N, C\) matrix, got shape \(5,\)"),
    (np.zeros((0, 3)), None, None, r"expected a non-empty \(N, C\) matrix, got shape \(0, 3\)"),
    (np.zeros((4, 0)), None, None, "expected a non-empty"),
    ([[1, 0], [1]], None, None, "expected a non-empty"),
    (np.zeros((4, 27)), None, NUM_CLASSES, r"expected shape \(N, 28\), got \(4, 27\)"),
    (np.zeros((4, 28)), 5, NUM_CLASSES, r"expected shape \(5, 28\), got \(4, 28\)"),
    (np.zeros((4, 3)), 5, None, r"expected shape \(5, C\)"),
    ([["a", "b"]], None, None, "expected 0/1 values, got dtype <U1"),
    ([[1, 2]], None, None, "expected only 0/1 values"),
    ([[0.5, 1.0]], None, None, "expected only 0/1 values"),
    ([[np.nan, 1.0]], None, None, "expected only 0/1 values"),
])
def test_bad_matrices_are_one_line_errors_naming_the_argument(labels, rows, classes, message):
    with pytest.raises(HpaError, match=f"^y_true: {message}") as err:
        as_label_matrix(labels, "y_true", rows=rows, classes=classes)
    assert "\n" not in str(err.value)

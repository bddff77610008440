"""hpa.evaluation.metrics must agree with scikit-learn (zero_division=0) everywhere."""
import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from hpa.data.reading.labels import CLASS_NAMES
from hpa.evaluation.metrics import (
    classification_report,
    confusion_counts,
    hamming_accuracy,
    macro_f1,
    precision_recall_f1,
    report_frame,
    subset_accuracy,
)
from hpa.runtime.errors import HpaError


def random_pair(seed, n=60, c=28):
    """Random labels and predictions with the awkward classes built in.

    Class 0 has no true sample, class 1 is never predicted, class 2 has
    neither, class 3 is predicted perfectly.
    """
    rng = np.random.default_rng(seed)
    y_true = (rng.random((n, c)) < rng.uniform(0.05, 0.5, c)).astype(np.uint8)
    y_pred = (rng.random((n, c)) < rng.uniform(0.05, 0.5, c)).astype(np.uint8)
    y_true[:, [0, 2]] = 0
    y_pred[:, [1, 2]] = 0
    y_pred[:, 3] = y_true[:, 3]
    return y_true, y_pred


@pytest.mark.parametrize("seed", range(5))
def test_per_class_scores_match_sklearn(seed):
    y_true, y_pred = random_pair(seed)
    ours = precision_recall_f1(y_true, y_pred)
    theirs = skm.precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b)


@pytest.mark.parametrize("seed", range(5))
def test_summary_scores_match_sklearn(seed):
    y_true, y_pred = random_pair(seed)
    assert macro_f1(y_true, y_pred) == pytest.approx(
        skm.f1_score(y_true, y_pred, average="macro", zero_division=0)
    )
    assert subset_accuracy(y_true, y_pred) == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert hamming_accuracy(y_true, y_pred) == pytest.approx(1 - skm.hamming_loss(y_true, y_pred))


def test_awkward_classes_score_zero_or_one():
    y_true, y_pred = random_pair(0)
    precision, recall, f1, support = precision_recall_f1(y_true, y_pred)
    assert support[0] == 0 and recall[0] == 0 and f1[0] == 0
    assert precision[1] == 0 and f1[1] == 0
    assert precision[2] == recall[2] == f1[2] == 0
    assert f1[3] == 1


def test_subset_accuracy_on_a_small_example():
    y_true = [[1, 0, 1], [0, 1, 0], [1, 1, 0]]
    y_pred = [[1, 0, 1], [0, 1, 1], [1, 1, 0]]
    assert subset_accuracy(y_true, y_pred) == pytest.approx(2 / 3)
    assert hamming_accuracy(y_true, y_pred) == pytest.approx(8 / 9)


def test_confusion_counts():
    tp, fp, fn = confusion_counts([[1, 0], [1, 1], [0, 0]], [[1, 1], [0, 1], [0, 1]])
    assert tp.tolist() == [1, 1]
    assert fp.tolist() == [0, 2]
    assert fn.tolist() == [1, 0]


def test_bool_inputs_accepted():
    y_true, y_pred = random_pair(1)
    assert macro_f1(y_true.astype(bool), y_pred.astype(bool)) == macro_f1(y_true, y_pred)


def test_report_frame_rows_and_averages():
    y_true, y_pred = random_pair(2)
    frame = report_frame(y_true, y_pred)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["name", "precision", "recall", "f1", "support", "predicted"]
    assert list(frame.index[:28]) == list(range(28))
    assert list(frame.index[28:]) == ["micro avg", "macro avg"]
    assert list(frame["name"][:28]) == list(CLASS_NAMES)
    assert frame.loc["macro avg", "f1"] == pytest.approx(macro_f1(y_true, y_pred))
    micro = skm.precision_recall_fscore_support(y_true, y_pred, average="micro", zero_division=0)
    scores = frame.loc["micro avg", ["precision", "recall", "f1"]].astype(float)
    np.testing.assert_allclose(scores, micro[:3])
    assert frame.loc[5, "support"] == y_true[:, 5].sum()
    assert frame.loc[5, "predicted"] == y_pred[:, 5].sum()
    assert frame["support"].dtype == np.int64


def test_report_frame_other_class_count_and_names():
    y_true, y_pred = random_pair(3, c=4)
    assert list(report_frame(y_true, y_pred)["name"][:4]) == ["0", "1", "2", "3"]
    named = report_frame(y_true, y_pred, class_names=["a", "b", "c", "d"])
    assert list(named["name"][:4]) == ["a", "b", "c", "d"]
    with pytest.raises(HpaError, match="class_names"):
        report_frame(y_true, y_pred, class_names=["a"])


def test_classification_report_text():
    y_true, y_pred = random_pair(4)
    text = classification_report(y_true, y_pred, digits=2)
    lines = text.splitlines()
    assert len(lines) == 1 + 28 + 2
    assert "Rods & rings" in text and "macro avg" in text and "micro avg" in text
    assert f"{macro_f1(y_true, y_pred):.2f}" in lines[-1]
    with pytest.raises(HpaError, match="digits"):
        classification_report(y_true, y_pred, digits=-1)


@pytest.mark.parametrize(
    "y_true, y_pred, message",
    [
        ([1, 0, 1], [1, 0, 1], "y_true: expected a non-empty"),
        ([[1, 0]], [[1, 0, 1]], "y_pred: shape"),
        ([[1, 2]], [[1, 0]], "y_true: expected only 0/1"),
        ([[1, 0]], [["a", "b"]], "y_pred: expected 0/1 values"),
        (np.zeros((0, 3)), np.zeros((0, 3)), "y_true: expected a non-empty"),
    ],
)
def test_bad_input_is_a_one_line_error(y_true, y_pred, message):
    with pytest.raises(HpaError, match=message) as err:
        macro_f1(y_true, y_pred)
    assert "\n" not in str(err.value)

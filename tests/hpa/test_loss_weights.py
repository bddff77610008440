"""Class and positive weights of the weighted BCE against values computed by hand.

Ten samples, four classes with 5, 1, 0 and 10 positives.
"""
import math

import numpy as np
import pytest

from hpa.runtime.errors import HpaError
from hpa.training import factories
from hpa.training.config import TrainConfig
from hpa.training.loss_weights import class_weights, positive_weights

LABELS = np.zeros((10, 4), np.uint8)
LABELS[:5, 0] = 1
LABELS[0, 1] = 1
LABELS[:, 3] = 1


def test_inverse_log_class_weights():
    # Counts floored at 2: 5, 2, 2, 10 -> 1/log(n), normalised to mean 1.
    raw = [1 / math.log(5), 1 / math.log(2), 1 / math.log(2), 1 / math.log(10)]
    mean = sum(raw) / 4
    np.testing.assert_allclose(class_weights(LABELS, "inv-log"), [r / mean for r in raw], rtol=1e-6)
    assert class_weights(LABELS, "none") is None


def test_ratio_positive_weights():
    # (N - N_i) / N_i with counts floored at 1: 5/5, 9/1, 9/1 (absent), 0/10 -> floor 1e-3.
    np.testing.assert_allclose(positive_weights(LABELS, "ratio"), [1, 9, 9, 1e-3], rtol=1e-6)


def test_sqrt_ratio_positive_weights():
    np.testing.assert_allclose(positive_weights(LABELS, "sqrt-ratio"), [1, 3, 3, math.sqrt(1e-3)], rtol=1e-6)


def test_no_positive_weights():
    assert positive_weights(LABELS, "none") is None


def test_the_cap_applies_before_the_square_root():
    np.testing.assert_allclose(positive_weights(LABELS, "ratio", max_weight=4), [1, 4, 4, 1e-3], rtol=1e-6)
    np.testing.assert_allclose(positive_weights(LABELS, "sqrt-ratio", max_weight=4), [1, 2, 2, math.sqrt(1e-3)],
                               rtol=1e-6)


def test_the_cap_is_an_option_of_the_loss():
    config = TrainConfig(loss="weighted-bce", pos_weight="ratio", pos_weight_cap=4.0).check()
    loss = factories.make_loss(config, LABELS)
    np.testing.assert_allclose(loss.pos_weight.host, [1, 4, 4, 1e-3], rtol=1e-6)
    with pytest.raises(HpaError, match="--pos-weight-cap"):
        TrainConfig(pos_weight_cap=0.5).check()


def test_unknown_schemes_are_refused():
    with pytest.raises(HpaError, match="--pos-weight"):
        positive_weights(LABELS, "cube")
    with pytest.raises(HpaError, match="--class-weight"):
        class_weights(LABELS, "log")

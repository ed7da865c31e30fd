"""Classification metrics on a case small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pytest

from edge.runtime.metrics import classification_report


def test_report_on_a_hand_checked_case():
    y = np.array([0, 0, 0, 1, 1, 2])
    predicted = np.array([0, 0, 1, 1, 0, 1])  # class 2 never predicted
    report = classification_report(np.eye(3)[predicted], y, ["a", "b", "c"])
    assert report["confusion_matrix"] == [[2, 1, 0], [1, 1, 0], [0, 1, 0]]
    assert report["accuracy"] == pytest.approx(3 / 6)
    assert report["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    assert report["per_class"]["a"] == pytest.approx({"n": 3, "precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3})
    assert report["per_class"]["b"]["precision"] == pytest.approx(1 / 3)
    assert report["per_class"]["c"] == {"n": 1, "precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_a_class_absent_from_the_images_does_not_count_in_balanced_accuracy():
    report = classification_report(np.eye(3)[[0, 1]], np.array([0, 1]), ["a", "b", "c"])
    assert report["balanced_accuracy"] == 1.0 and report["per_class"]["c"]["n"] == 0

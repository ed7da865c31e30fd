"""Classification metrics from predicted probabilities (numpy only, so they run on the device too)."""

from __future__ import annotations

import numpy as np


def classification_report(probabilities: np.ndarray, y: np.ndarray, labels: list[str]) -> dict:
    """Accuracy, balanced accuracy, per-class precision/recall/F1 and the confusion matrix (rows: true class)."""
    predicted = np.argmax(probabilities, axis=1)
    confusion = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(confusion, (y, predicted), 1)
    true_positives = np.diag(confusion)
    support, predicted_count = confusion.sum(axis=1), confusion.sum(axis=0)
    recall = np.divide(true_positives, support, out=np.zeros(len(labels)), where=support > 0)
    precision = np.divide(true_positives, predicted_count, out=np.zeros(len(labels)), where=predicted_count > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(len(labels)), where=precision + recall > 0)
    present = support > 0
    return {
        "accuracy": float(true_positives.sum() / max(len(y), 1)),
        "balanced_accuracy": float(recall[present].mean()) if present.any() else 0.0,
        "n": int(len(y)),
        "per_class": {
            label: {
                "n": int(support[i]),
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
            }
            for i, label in enumerate(labels)
        },  # fmt: skip
        "confusion_matrix": confusion.tolist(),
    }

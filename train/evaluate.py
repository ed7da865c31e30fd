"""Accuracy figures from predicted probabilities: the same for a Keras model and for any exported artifact."""

from __future__ import annotations

import numpy as np


def accuracy_report(probabilities: np.ndarray, y: np.ndarray, labels: list[str]) -> dict:
    """Overall and per-class accuracy (per-class accuracy is the class's recall)."""
    predicted = np.argmax(probabilities, axis=1)
    correct = predicted == y
    per_class = {}
    for index, label in enumerate(labels):
        members = y == index
        n = int(members.sum())
        per_class[label] = {"accuracy": float(correct[members].mean()) if n else None, "n": n}
    return {"accuracy": float(correct.mean()), "n": int(len(y)), "per_class": per_class}

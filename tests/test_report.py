"""The run's report: the summary names the weak classes and the confusions, the plots are real images."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from rich.console import Console

from edge.report import confusion_png, curves_png, print_summary
from edge.runtime.datasets import Skipped
from edge.runtime.metrics import classification_report

LABELS = ["cat", "dog", "fox"]


def _report():
    y = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    predicted = np.array([0, 0, 0, 0, 0, 1, 2, 1])
    return classification_report(np.eye(3)[predicted], y, LABELS)


def test_summary_names_the_weakest_classes_the_confusions_and_the_skips_per_class():
    console = Console(record=True, width=120)
    skipped = [Skipped(f"data/{folder}/{name}", "truncated", i) for i, (folder, name) in enumerate(
        [("dog", "a.jpg"), ("dog", "b.jpg"), ("fox", "c.png")])]  # fmt: skip
    print_summary(console, _report(), LABELS, skipped, {"frozen": 12.3, "fine-tune": 45.6})
    text = console.export_text()
    assert "accuracy 0.6250, balanced accuracy 0.6111, n=8; frozen 12 s, fine-tune 46 s" in text
    assert text.index("dog") < text.index("fox") < text.index("cat")  # weakest F1 first
    assert "most confused: dog → cat ×2, fox → dog ×1" in text
    assert "skipped 3 unreadable file(s), by class: dog 2, fox 1" in text


def test_plots_are_pngs_of_the_expected_size():
    history = [{"phase": phase, "loss": 1 / e, "val_loss": 1.1 / e, "accuracy": 1 - 1 / e, "val_accuracy": 0.9 - 1 / e}
               for phase, e in [("frozen", 1), ("frozen", 2), ("fine-tune", 3)]]  # fmt: skip
    curves = Image.open(io.BytesIO(curves_png(history)))
    assert curves.format == "PNG" and curves.size == (1200, 480)
    confusion = Image.open(io.BytesIO(confusion_png(_report(), LABELS, "validation")))
    assert confusion.format == "PNG" and confusion.size == (int((1.5 + 0.6 * 3) * 120), int((1 + 0.6 * 3) * 120))


def test_a_run_holds_its_curves_and_confusion_matrix(tiny_run):
    assert Image.open(tiny_run / "curves.png").size == (1200, 480)
    assert Image.open(tiny_run / "confusion_matrix.png").size[0] == int((1.5 + 0.6 * 4) * 120)

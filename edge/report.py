"""What a run tells its user: learning curves and confusion matrix as PNGs, and a one-screen summary.

matplotlib only (no TensorFlow), so that `edge eval` can draw an exported model's confusion matrix on a device.
"""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from edge.runtime import EdgeError


def confusion_png(report: dict, labels: list[str], title: str) -> bytes:
    """The confusion matrix of a `classification_report` (rows: true class), counts written in the cells."""
    pyplot = _pyplot()
    matrix = np.array(report["confusion_matrix"])
    figure, axes = pyplot.subplots(figsize=(1.5 + 0.6 * len(labels), 1 + 0.6 * len(labels)))
    axes.imshow(matrix, cmap="Blues")
    axes.set(xticks=range(len(labels)), yticks=range(len(labels)), xlabel="predicted", ylabel="true",
             title=f"{title}: accuracy {report['accuracy']:.3f}")  # fmt: skip
    axes.set_xticklabels(labels, rotation=45, ha="right")
    axes.set_yticklabels(labels)
    for (row, column), count in np.ndenumerate(matrix):
        axes.text(column, row, str(count), ha="center", va="center",
                  color="white" if count > matrix.max() / 2 else "black")  # fmt: skip
    return _png(pyplot, figure)


def curves_png(history: list[dict]) -> bytes:
    """Loss and accuracy per epoch, training and validation, both phases on one axis of epochs."""
    pyplot = _pyplot()
    figure, panels = pyplot.subplots(1, 2, figsize=(10, 4))
    epochs = np.arange(1, len(history) + 1)
    starts = [index + 1 for index in range(1, len(history)) if history[index]["phase"] != history[index - 1]["phase"]]
    for panel, metric in zip(panels, ("loss", "accuracy"), strict=True):
        panel.plot(epochs, [row[metric] for row in history], label="training")
        panel.plot(epochs, [row[f"val_{metric}"] for row in history], label="validation")
        panel.set(xlabel="epoch", ylabel=metric)
        for start in starts:
            panel.axvline(start - 0.5, color="grey", linestyle=":")
            panel.text(start - 0.4, panel.get_ylim()[1], history[start - 1]["phase"], va="top", color="grey")
        panel.legend()
    return _png(pyplot, figure)


def print_summary(console: Console, report: dict, labels: list[str], skipped: list, seconds: dict) -> None:
    """Accuracy, the weakest classes, the most frequent confusions, skipped files per class and phase times."""
    console.print(
        f"validation: accuracy {report['accuracy']:.4f}, balanced accuracy {report['balanced_accuracy']:.4f}, "
        f"n={report['n']}; " + ", ".join(f"{phase} {value:.0f} s" for phase, value in seconds.items())
    )
    weakest = sorted(report["per_class"].items(), key=lambda item: item[1]["f1"])[:5]
    console.print(per_class_table("weakest classes", weakest))
    matrix = np.array(report["confusion_matrix"])
    np.fill_diagonal(matrix, 0)
    confusions = [(int(matrix[t, p]), labels[t], labels[p]) for t, p in zip(*np.nonzero(matrix), strict=True)]
    if confusions:
        worst = sorted(confusions, reverse=True)[:5]
        console.print("most confused: " + ", ".join(f"{true} → {predicted} ×{n}" for n, true, predicted in worst))
    if skipped:
        per_folder = Counter(Path(entry.path).parent.name for entry in skipped)
        counts = ", ".join(f"{folder} {n}" for folder, n in per_folder.items())
        console.print(f"skipped {len(skipped)} unreadable file(s), by class: {counts}")


def per_class_table(title: str, rows) -> Table:
    """Precision, recall and F1 of (label, per-class metrics) pairs from a `classification_report`."""
    table = Table(title, "n", "precision", "recall", "F1", box=None, pad_edge=False)
    for label, row in rows:
        table.add_row(label, str(row["n"]), f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}")
    return table


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ModuleNotFoundError:
        raise EdgeError("plots need matplotlib: pip install matplotlib (it comes with edge[train])") from None
    return pyplot


def _png(pyplot, figure) -> bytes:
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    pyplot.close(figure)
    return buffer.getvalue()

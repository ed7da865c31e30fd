"""Parity: every artifact of a run against its Keras model, on the same images, through the runtime.

The numbers a user deploys on are measured as the device computes them (same decode and resize, LiteRT or
onnxruntime), and compared with the float Keras model on the same pixels.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from edge.runtime import Classifier, Manifest
from edge.runtime.files import atomic_write_text
from edge.train.data import ImageSet, load_labelled
from edge.train.legacy_keras import keras
from edge.train.run import MODEL_FILE, dataset_of, open_run

PARITY_FILE = "export/parity.json"


@dataclass(frozen=True)
class Thresholds:
    """What an artifact must reach, against the Keras model, to pass the gate."""

    max_prob_diff: float = 1e-4  #: float artifacts: largest |Δ probability| on any image and class
    min_float_agreement: float = 1.0  #: float artifacts: share of images with the Keras model's top-1
    max_drop: float = 1.0  #: int8 artifacts: accuracy drop in points
    min_agreement: float = 0.97  #: int8 artifacts: share of images with the Keras model's top-1

    def breaches(self, precision: str, metrics: dict) -> list[str]:
        """Plain-language failures of one artifact; empty when it passes."""
        if precision == "int8":
            checks = [
                (-metrics["accuracy_delta"] * 100 > self.max_drop,
                 f"accuracy drop {-metrics['accuracy_delta'] * 100:.2f} pt > {self.max_drop:g}"),
                (metrics["agreement"] < self.min_agreement,
                 f"agreement {metrics['agreement']:.4f} < {self.min_agreement:g}"),
            ]  # fmt: skip
        else:
            checks = [
                (metrics["max_prob_diff"] > self.max_prob_diff,
                 f"max |Δp| {metrics['max_prob_diff']:.1e} > {self.max_prob_diff:g}"),
                (metrics["agreement"] < self.min_float_agreement,
                 f"agreement {metrics['agreement']:.4f} < {self.min_float_agreement:g}"),
            ]  # fmt: skip
        return [message for failed, message in checks if failed]


@dataclass
class Reference:
    """The Keras model's probabilities on a set of images: what every artifact is measured against."""

    manifest: Manifest
    images: ImageSet
    probabilities: np.ndarray

    @classmethod
    def of(cls, model: keras.Model, manifest: Manifest, images: ImageSet) -> Reference:
        return cls(manifest, images, model.predict(images.x, batch_size=32, verbose=0))

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.probabilities.argmax(1) == self.images.y))

    def measure(self, model_file: Path, *, verify: bool = True) -> dict:
        """Accuracy of `model_file` through the runtime, and how closely it follows the Keras model."""
        classifier = Classifier(model_file, manifest=self.manifest, verify=verify)
        probabilities = np.stack([classifier.probabilities(image) for image in self.images.x])
        accuracy = float(np.mean(probabilities.argmax(1) == self.images.y))
        return {
            "accuracy": accuracy,
            "accuracy_delta": accuracy - self.accuracy,
            "agreement": float(np.mean(probabilities.argmax(1) == self.probabilities.argmax(1))),
            "max_prob_diff": float(np.abs(probabilities - self.probabilities).max()),
            "n": len(self.images),
        }


def check_parity(
    run_dir: Path, reference: Reference, thresholds: Thresholds, source: str, measured: dict[str, dict] | None = None
) -> dict:
    """Measure every artifact in the manifest against `reference`, write export/parity.json, return the report.

    Each artifact's sha256 is checked against the manifest: a changed file is an error, not a pass.
    `measured` holds metrics already taken with `reference` (by file), which are not measured again.
    """
    measured = measured or {}
    rows = [{"artifact": MODEL_FILE, "precision": "float32", "method": "trained", "n": len(reference.images),
             "accuracy": reference.accuracy, "breaches": []}]  # fmt: skip
    for artifact in reference.manifest.artifacts:
        if artifact.file == MODEL_FILE:
            continue
        metrics = measured.get(artifact.file) or reference.measure(Path(run_dir) / artifact.file)
        rows.append({"artifact": artifact.file, "precision": artifact.precision, "method": artifact.method,
                     **metrics, "breaches": thresholds.breaches(artifact.precision, metrics)})  # fmt: skip
    report = {
        "images": source,
        "n": len(reference.images),
        "thresholds": asdict(thresholds),
        "passed": not any(row["breaches"] for row in rows),
        "rows": rows,
    }
    atomic_write_text(Path(run_dir) / PARITY_FILE, json.dumps(report, indent=2) + "\n")
    return report


def print_parity(console: Console, report: dict) -> None:
    table = Table(
        "artifact", "dtype", "method", "accuracy", "Δ pt", "agreement", "max |Δp|", "gate",
        box=None, pad_edge=False, title=f"parity on {report['images']}, n={report['n']}", title_justify="left",
    )  # fmt: skip
    for row in report["rows"]:
        compared = ["", "", ""]
        if "agreement" in row:
            compared = [f"{row['accuracy_delta'] * 100:+.2f}", f"{row['agreement']:.4f}", f"{row['max_prob_diff']:.1e}"]
        verdict = "; ".join(row["breaches"]) or ("pass" if "agreement" in row else "")
        table.add_row(Path(row["artifact"]).name, row["precision"], row["method"], f"{row['accuracy']:.4f}",
                      *compared, verdict)  # fmt: skip
    console.print(table)


def breach_summary(report: dict) -> str:
    """One line naming every artifact that failed and why."""
    failed = [
        f"{Path(row['artifact']).name} ({'; '.join(row['breaches'])})" for row in report["rows"] if row["breaches"]
    ]
    return "parity gate failed: " + ", ".join(failed)


def run_parity(run_dir: Path, data_dir: Path | None, thresholds: Thresholds) -> dict:
    """`edge parity`: the run's validation split, or every image of DATA_DIR/<class>/*, against its Keras model."""
    manifest, model = open_run(run_dir)
    if data_dir is None:
        images, source = dataset_of(manifest).validation, "the validation split"
    else:
        images, _ = load_labelled(data_dir, manifest.input_size[0], manifest.labels)
        source = str(data_dir)
    return check_parity(run_dir, Reference.of(model, manifest, images), thresholds, source)

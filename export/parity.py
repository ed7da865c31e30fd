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

from edge.config import Thresholds
from edge.runtime import Classifier, Manifest
from edge.runtime.datasets import ImageSet, load_labelled
from edge.runtime.files import atomic_write_text
from edge.runtime.run_dir import RunDir
from edge.train.legacy_keras import keras
from edge.train.run import open_run

from .layer_error import layer_errors

LAYER_ERROR_IMAGES = 16  #: validation images run layer by layer (without XNNPACK) when an int8 TFLite model breaches


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
        """Accuracy of `model_file` through the runtime, how closely it follows the Keras model, and the images
        whose top-1 it changed, most confident Keras answer first (a flip there is a real error, not a tie)."""
        classifier = Classifier(model_file, manifest=self.manifest, verify=verify)
        probabilities = np.stack([classifier.probabilities(image) for image in self.images.x])
        top, keras_top = probabilities.argmax(1), self.probabilities.argmax(1)
        ordered = np.sort(self.probabilities, axis=1)
        margins = ordered[:, -1] - ordered[:, -2]
        flipped = np.flatnonzero(top != keras_top)
        labels = self.manifest.labels
        accuracy = float(np.mean(top == self.images.y))
        return {
            "accuracy": accuracy,
            "accuracy_delta": accuracy - self.accuracy,
            "agreement": float(np.mean(top == keras_top)),
            "max_prob_diff": float(np.abs(probabilities - self.probabilities).max()),
            "n": len(self.images),
            "flips": [
                {
                    "image": self.images.paths[i],
                    "keras": labels[keras_top[i]],
                    "artifact": labels[top[i]],
                    "keras_margin": round(float(margins[i]), 4),
                }
                for i in flipped[np.argsort(-margins[flipped], kind="stable")]
            ],  # fmt: skip
        }


def check_parity(
    run_dir: Path, reference: Reference, thresholds: Thresholds, source: str, measured: dict[str, dict] | None = None
) -> dict:
    """Measure every artifact in the manifest against `reference`, write export/parity.json, return the report.

    Each artifact's sha256 is checked against the manifest: a changed file is an error, not a pass.
    `measured` holds metrics already taken with `reference` (by file), which are not measured again.
    """
    measured = measured or {}
    rows = [{"artifact": RunDir.MODEL, "precision": "float32", "method": "trained", "n": len(reference.images),
             "accuracy": reference.accuracy, "breaches": []}]  # fmt: skip
    for artifact in reference.manifest.artifacts:
        if artifact.file == RunDir.MODEL:
            continue
        metrics = measured.get(artifact.file) or reference.measure(Path(run_dir) / artifact.file)
        rows.append({"artifact": artifact.file, "precision": artifact.precision, "method": artifact.method,
                     **metrics, "breaches": thresholds.breaches(artifact.precision, metrics)})  # fmt: skip
        if rows[-1]["breaches"] and artifact.precision == "int8" and artifact.format == "tflite":
            rows[-1]["layers"] = _worst_layers(Path(run_dir), reference, artifact.file)
    report = {
        "images": source,
        "n": len(reference.images),
        "thresholds": asdict(thresholds),
        "passed": not any(row["breaches"] for row in rows),
        "rows": rows,
    }
    atomic_write_text(RunDir(run_dir).parity, json.dumps(report, indent=2) + "\n")
    return report


def _worst_layers(run_dir: Path, reference: Reference, int8_file: str) -> list[dict]:
    """The five layers of an int8 TFLite artifact that add the most error against the float TFLite model."""
    float_file = next(
        a.file for a in reference.manifest.artifacts if a.format == "tflite" and a.precision == "float32"
    )  # fmt: skip
    return worst_layers(reference, run_dir / float_file, run_dir / int8_file)[:5]


def worst_layers(reference: Reference, float_tflite: Path, int8_tflite: Path) -> list[dict]:
    """Layers of `int8_tflite` by the error they add against `float_tflite`, the largest first, measured on
    `LAYER_ERROR_IMAGES` of the reference images spread over its classes' order."""
    images = reference.images.x[:: max(1, len(reference.images) // LAYER_ERROR_IMAGES)][:LAYER_ERROR_IMAGES]
    errors = layer_errors(float_tflite, int8_tflite, images)
    return [{"layer": layer, "error_added": round(added, 4)} for layer, added in errors]


def print_parity(console: Console, report: dict) -> None:
    """The table, then for each int8 artifact that breached: which answers it changed, and what to try."""
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
    breached = [row for row in report["rows"] if row["breaches"] and row["precision"] == "int8"]
    for row in breached:
        flips = row.get("flips", [])
        margins = " ".join(f"{flip['keras_margin']:.2f}" for flip in flips[:10]) + (" ..." if len(flips) > 10 else "")
        console.print(f"{Path(row['artifact']).name}: {len(flips)} of {row['n']} answers differ from Keras; "
                      f"Keras's top-1 minus top-2 probability on them: {margins}")  # fmt: skip
        for flip in flips[:3]:
            console.print(f"  {flip['image']}: Keras {flip['keras']} (margin {flip['keras_margin']:.2f}), "
                          f"int8 {flip['artifact']}", highlight=False)  # fmt: skip
        if row.get("layers"):
            worst = ", ".join(f"{entry['layer']} +{entry['error_added']:.3f}" for entry in row["layers"])
            console.print(f"{Path(row['artifact']).name}: layers adding the most error against the float model "
                          f"(relative RMS of their outputs, {LAYER_ERROR_IMAGES} images): {worst}")  # fmt: skip
    if breached:  # each remedy measured in benchmarks/results/int8_parity.md
        trained = any(row["method"].startswith("qat") for row in breached)
        first = "longer quantization-aware training, edge export RUN --int8 --qat-epochs 8" if trained else (
            "quantization-aware training, edge export RUN --int8 --qat-always")  # fmt: skip
        console.print(f"To try: {first}; or leave the layers adding the most error in float, edge export RUN --int8 "
                      "--keep-float auto.")  # fmt: skip


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
        images, source = RunDir(run_dir).dataset(manifest).validation, "the validation split"
    else:
        images, _ = load_labelled(data_dir, manifest.input_size[0], manifest.labels)
        source = str(data_dir)
    return check_parity(run_dir, Reference.of(model, manifest, images), thresholds, source)

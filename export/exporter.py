"""`edge export`: Keras model -> TFLite artifacts, each measured through the runtime and recorded in edge.json."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from edge.runtime import MANIFEST_NAME, Artifact, Classifier, Manifest
from edge.runtime.console import make_console
from edge.runtime.files import atomic_write_bytes, sha256_file
from edge.train.data import ImageSet
from edge.train.evaluate import accuracy_report
from edge.train.legacy_keras import keras
from edge.train.progress import progress_bar
from edge.train.run import dataset_of, open_run

from .config import ExportConfig
from .qat import quantize_aware
from .tflite import float_tflite, int8_tflite

EXPORT_DIR = "export"
FLOAT_TFLITE, INT8_TFLITE = "model_float.tflite", "model_int8.tflite"


@dataclass
class Reference:
    """What every artifact is measured against: the Keras model's probabilities on the validation split."""

    manifest: Manifest
    validation: ImageSet
    probabilities: np.ndarray

    def measure(self, model_file: Path) -> dict:
        """Accuracy of `model_file` through the runtime, and how closely it follows the Keras model."""
        classifier = Classifier(model_file, manifest=self.manifest, verify=False)
        probabilities = np.stack([classifier.probabilities(image) for image in self.validation.x])
        accuracy = accuracy_report(probabilities, self.validation.y, self.manifest.labels)["accuracy"]
        reference = accuracy_report(self.probabilities, self.validation.y, self.manifest.labels)["accuracy"]
        return {
            "accuracy": accuracy,
            "accuracy_delta": accuracy - reference,
            "agreement": float(np.mean(probabilities.argmax(1) == self.probabilities.argmax(1))),
            "max_prob_diff": float(np.abs(probabilities - self.probabilities).max()),
            "n": len(self.validation),
        }


def export(config: ExportConfig, console: Console | None = None) -> list[Artifact]:
    """Convert the run's model, measure each artifact on the validation split and record it in edge.json.

    Artifacts are written to temp files first and renamed into `export/` together, followed by the manifest,
    so an interrupted export leaves the previous files and manifest as they were.
    """
    console = console or make_console()
    run_dir = config.run_dir
    manifest, model = open_run(run_dir)
    keras.utils.set_random_seed(manifest.data.get("seed", 0))  # QAT shuffling and dropout: a repeatable export
    with progress_bar(console, "Preparing images") as progress:
        dataset = dataset_of(manifest, progress)
    probabilities = model.predict(dataset.validation.x, batch_size=config.batch_size, verbose=0)
    reference = Reference(manifest, dataset.validation, probabilities)
    rng = np.random.default_rng(manifest.data.get("seed", 0))
    calibration = dataset.train.x[rng.permutation(len(dataset.train))[: config.calibration_images]]
    (run_dir / EXPORT_DIR).mkdir(exist_ok=True)
    temps: list[Path] = []
    artifacts: list[Artifact] = []

    def stage(name: str, precision: str, method: str, convert: Callable[[], bytes]) -> None:
        console.print(f"{name}: {precision} ({method}), converting")
        started = time.perf_counter()
        model_bytes = convert()
        temps.append(run_dir / EXPORT_DIR / f".tmp-{os.getpid()}-{name}")  # keeps the suffix the runtime reads
        atomic_write_bytes(temps[-1], model_bytes)
        seconds = round(time.perf_counter() - started, 1)
        console.print(f"{name}: measuring on {len(dataset.validation)} validation images")
        metrics = reference.measure(temps[-1]) | {"size_bytes": len(model_bytes), "export_seconds": seconds}
        digest = sha256_file(temps[-1])
        artifacts.append(Artifact(f"{EXPORT_DIR}/{name}", "tflite", precision, method, digest, metrics))

    def quantization_aware() -> bytes:
        trained = quantize_aware(model, dataset.train.x, dataset.train.y, config, calibration, console)
        return int8_tflite(trained, calibration)

    try:
        stage(FLOAT_TFLITE, "float32", "float", lambda: float_tflite(model))
        if config.ptq:
            stage(INT8_TFLITE, "int8", "ptq", lambda: int8_tflite(model, calibration))
        elif config.int8:
            stage(INT8_TFLITE, "int8", "qat", quantization_aware)
        for temp, artifact in zip(temps, artifacts, strict=True):
            os.replace(temp, run_dir / artifact.file)
            manifest.record(artifact)
        manifest.save(run_dir / MANIFEST_NAME)
    finally:
        for temp in temps:
            temp.unlink(missing_ok=True)

    _report(console, manifest, run_dir)
    return artifacts


def _report(console: Console, manifest: Manifest, run_dir: Path) -> None:
    table = Table(
        "artifact", "dtype", "method", "MB", "accuracy", "Δ pt", "agreement", "max |Δp|",
        box=None, pad_edge=False, title=f"{run_dir}: validation, n={manifest.data.get('validation')}",
        title_justify="left",
    )  # fmt: skip
    for artifact in manifest.artifacts:
        metrics = artifact.metrics
        compared = ["", "", ""]
        if "agreement" in metrics:
            compared = [
                f"{metrics['accuracy_delta'] * 100:+.2f}",
                f"{metrics['agreement']:.4f}",
                f"{metrics['max_prob_diff']:.1e}",
            ]
        size = (run_dir / artifact.file).stat().st_size / 1e6
        table.add_row(
            Path(artifact.file).name, artifact.precision, artifact.method, f"{size:.2f}", f"{metrics['accuracy']:.4f}",
            *compared,
        )  # fmt: skip
    console.print(table)

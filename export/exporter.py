"""`edge export`: Keras model -> TFLite artifacts, each measured through the runtime and recorded in edge.json."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from edge.runtime import MANIFEST_NAME, Artifact, Classifier, Manifest
from edge.runtime.files import atomic_write_bytes, sha256_file
from edge.train.data import ImageSet
from edge.train.evaluate import accuracy_report
from edge.train.progress import progress_bar
from edge.train.run import dataset_of, open_run
from rich.console import Console
from rich.table import Table

from .config import ExportConfig
from .qat import quantize_aware
from .tflite import float_tflite, int8_tflite

EXPORT_DIR = "export"
FLOAT_TFLITE, INT8_TFLITE = "model_float.tflite", "model_int8.tflite"


@dataclass
class _Candidate:
    """A converted model waiting in a temp file until every artifact of the export is ready."""

    artifact: Artifact
    temp: Path


def export(config: ExportConfig, console: Console | None = None) -> list[Artifact]:
    """Convert the run's model, measure each artifact on the validation split and record it in edge.json.

    Artifacts are written to temp files first and renamed into `export/` together, followed by the manifest,
    so an interrupted export leaves the previous files and manifest as they were.
    """
    console = console or Console(soft_wrap=True)
    run_dir = config.run_dir
    manifest, model = open_run(run_dir)
    with progress_bar(console, "Preparing images") as progress:
        dataset = dataset_of(manifest, progress)
    validation = dataset.validation
    keras_probabilities = model.predict(validation.x, batch_size=config.batch_size, verbose=0)
    rng = np.random.default_rng(manifest.data.get("seed", 0))
    calibration = dataset.train.x[rng.permutation(len(dataset.train))[: config.calibration_images]]

    export_dir = run_dir / EXPORT_DIR
    export_dir.mkdir(exist_ok=True)
    candidates = []
    try:
        started = time.perf_counter()
        candidates.append(
            _measure(
                float_tflite(model),
                FLOAT_TFLITE,
                "float32",
                "float",
                manifest,
                validation,
                keras_probabilities,
                export_dir,
                started,
            )
        )
        if config.int8:
            started = time.perf_counter()
            if config.ptq:
                int8_model, method = model, "ptq"
            else:
                int8_model = quantize_aware(model, dataset.train.x, dataset.train.y, config, calibration, console)
                method = "qat"
            converted = int8_tflite(int8_model, calibration)
            candidates.append(
                _measure(
                    converted,
                    INT8_TFLITE,
                    "int8",
                    method,
                    manifest,
                    validation,
                    keras_probabilities,
                    export_dir,
                    started,
                )
            )
        for candidate in candidates:
            os.replace(candidate.temp, run_dir / candidate.artifact.file)
            manifest.record(candidate.artifact)
        manifest.save(run_dir / MANIFEST_NAME)
    finally:
        for candidate in candidates:
            candidate.temp.unlink(missing_ok=True)

    _report(console, manifest, run_dir)
    return [candidate.artifact for candidate in candidates]


def _measure(
    model_bytes: bytes,
    name: str,
    precision: str,
    method: str,
    manifest: Manifest,
    validation: ImageSet,
    keras_probabilities: np.ndarray,
    export_dir: Path,
    started: float,
) -> _Candidate:
    """Write `model_bytes` to a temp file and measure it through the runtime against the Keras model."""
    temp = export_dir / f".{name}.{os.getpid()}.tmp.tflite"
    atomic_write_bytes(temp, model_bytes)
    seconds = time.perf_counter() - started
    classifier = Classifier(temp, manifest=manifest, verify=False)
    probabilities = np.stack([classifier.probabilities(image) for image in validation.x])
    report = accuracy_report(probabilities, validation.y, manifest.labels)
    keras_report = accuracy_report(keras_probabilities, validation.y, manifest.labels)
    metrics = {
        "accuracy": report["accuracy"],
        "accuracy_delta": report["accuracy"] - keras_report["accuracy"],
        "agreement": float(np.mean(probabilities.argmax(1) == keras_probabilities.argmax(1))),
        "max_prob_diff": float(np.abs(probabilities - keras_probabilities).max()),
        "n": report["n"],
        "size_bytes": len(model_bytes),
        "export_seconds": round(seconds, 1),
    }
    artifact = Artifact(f"{EXPORT_DIR}/{name}", "tflite", precision, method, sha256_file(temp), metrics)
    return _Candidate(artifact, temp)


def _report(console: Console, manifest: Manifest, run_dir: Path) -> None:
    table = Table(
        "artifact",
        "dtype",
        "method",
        "MB",
        "accuracy",
        "Δ pt",
        "agreement",
        "max |Δp|",
        box=None,
        pad_edge=False,
        title=f"{run_dir}: validation, n={manifest.data.get('validation')}",
        title_justify="left",
    )
    for artifact in manifest.artifacts:
        metrics = artifact.metrics
        compared = (
            [
                f"{metrics['accuracy_delta'] * 100:+.2f}",
                f"{metrics['agreement']:.4f}",
                f"{metrics['max_prob_diff']:.1e}",
            ]
            if "agreement" in metrics
            else ["", "", ""]
        )
        table.add_row(
            Path(artifact.file).name,
            artifact.precision,
            artifact.method,
            f"{(run_dir / artifact.file).stat().st_size / 1e6:.2f}",
            f"{metrics['accuracy']:.4f}",
            *compared,
        )
    console.print(table)

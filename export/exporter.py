"""`edge export`: Keras model -> TFLite and ONNX artifacts, each measured through the runtime and recorded in
edge.json, then the parity gate over all of them."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from rich.console import Console

from edge.runtime import MANIFEST_NAME, Artifact, EdgeError
from edge.runtime.console import make_console
from edge.runtime.files import atomic_write_bytes, sha256_file
from edge.train.augment import augmentation
from edge.train.data import Dataset
from edge.train.legacy_keras import keras
from edge.train.progress import progress_bar
from edge.train.run import dataset_of, open_run

from .config import MAX_AUTO_FLOAT_LAYERS, ExportConfig
from .onnx import float_onnx, int8_onnx, int8_onnx_from_tflite
from .parity import Reference, Thresholds, breach_summary, check_parity, print_parity, worst_layers
from .qat import feeding_groups, fused_group, quantize_aware, with_weights_of
from .rounding import round_weights
from .tflite import float_tflite, int8_tflite

EXPORT_DIR = "export"
FLOAT_TFLITE, INT8_TFLITE = "model_float.tflite", "model_int8.tflite"
FLOAT_ONNX, INT8_ONNX = "model.onnx", "model_int8.onnx"


def calibration_images(dataset: Dataset, seed: int, count: int) -> np.ndarray:
    """The `count` training images, drawn with the run's seed, that set int8 ranges and weight rounding."""
    return dataset.train.x[np.random.default_rng(seed).permutation(len(dataset.train))[:count]]


class ParityBreach(EdgeError):
    """An exported artifact fails the parity gate; exit code 1, not 2 (nothing the user typed was wrong)."""

    exit_code = 1


def export(config: ExportConfig, console: Console | None = None) -> dict:
    """Convert the run's model, measure each artifact on the validation split, record it in edge.json, and
    run the parity gate over every artifact; return the parity report.

    Artifacts are written to temp files first and renamed into `export/` together, followed by the manifest,
    so an interrupted export leaves the previous files and manifest as they were.
    """
    console = console or make_console()
    run_dir = config.run_dir
    manifest, model = open_run(run_dir)
    float_layers = [member for name in config.keep_float if name != "auto" for member in fused_group(model, name)]
    seed = manifest.data.get("seed", 0)
    keras.utils.set_random_seed(seed)  # QAT shuffling, augmentation and dropout: a repeatable export
    with progress_bar(console, "Preparing images") as progress:
        dataset = dataset_of(manifest, progress)
    reference = Reference.of(model, manifest, dataset.validation)
    calibration = calibration_images(dataset, seed, config.calibration_images)
    (run_dir / EXPORT_DIR).mkdir(exist_ok=True)
    for stale in (run_dir / EXPORT_DIR).glob(".tmp-*"):  # left by an export that was killed
        stale.unlink()
    temps: list[Path] = []
    artifacts: list[Artifact] = []
    measured: dict[str, dict] = {}  #: by file: the parity gate reuses these instead of measuring again

    def stage(name: str, precision: str, method: str, convert: Callable[[], bytes], kept_float=()) -> bytes:
        console.print(f"{name}: {precision} ({method}), converting")
        started = time.perf_counter()
        model_bytes = convert()
        temps.append(run_dir / EXPORT_DIR / f".tmp-{os.getpid()}-{name}")  # keeps the suffix the runtime reads
        atomic_write_bytes(temps[-1], model_bytes)
        seconds = round(time.perf_counter() - started, 1)
        console.print(f"{name}: measuring on {len(dataset.validation)} validation images")
        file = f"{EXPORT_DIR}/{name}"
        measured[file] = reference.measure(temps[-1], verify=False)
        metrics = measured[file] | {"size_bytes": len(model_bytes), "export_seconds": seconds}
        artifacts.append(Artifact(file, name.rsplit(".", 1)[1], precision, method, sha256_file(temps[-1]), metrics,
                                  list(kept_float)))  # fmt: skip
        return model_bytes

    def unstage() -> None:
        temps.pop().unlink()
        artifacts.pop()

    try:
        stage(FLOAT_TFLITE, "float32", "float", lambda: float_tflite(model))
        float_model_onnx = stage(FLOAT_ONNX, "float32", "float", lambda: float_onnx(model))
        if config.int8:
            auto = config.keep_float == ("auto",)
            method = "ptq" if config.ptq else "qat"
            training = manifest.training
            augment = augmentation(seed, training.get("flip", True)) if training.get("augment") else None

            quantized = model

            def int8_model() -> bytes:
                """Quantization-aware training (PTQ: weights rounded on data instead) and conversion, with
                `float_layers` left in float."""
                nonlocal quantized
                if config.ptq or config.qat_rounded:
                    console.print(f"rounding the int8 weights to reproduce each layer on {len(calibration)} "
                                  "calibration images")  # fmt: skip
                if config.ptq:
                    quantized = round_weights(model, calibration, config.batch_size, skip=float_layers)
                else:
                    quantized = quantize_aware(model, dataset.train.x, calibration, config, augment=augment, seed=seed,
                                               console=console, float_layers=float_layers)  # fmt: skip
                return stage(INT8_TFLITE, "int8", method, lambda: int8_tflite(quantized, calibration, float_layers),
                             float_layers)  # fmt: skip

            tflite = int8_model()
            for _ in range(MAX_AUTO_FLOAT_LAYERS if auto else 0):
                breaches = Thresholds().breaches("int8", measured[f"{EXPORT_DIR}/{INT8_TFLITE}"])
                if not breaches:
                    break
                worst = next(entry["layer"] for entry in worst_layers(reference, temps[0], temps[-1])
                             if entry["layer"] not in float_layers)  # fmt: skip
                group = fused_group(model, worst)
                float_layers += [name for name in group + feeding_groups(model, group) if name not in float_layers]
                console.print(f"{INT8_TFLITE}: {'; '.join(breaches)}: leaving {worst} and the layer feeding it in "
                              "float, and quantizing again (--keep-float auto)")  # fmt: skip
                unstage()
                tflite = int8_model()
            if config.onnx_int8 == "tf2onnx":
                stage(INT8_ONNX, "int8", f"{method}+tf2onnx", lambda: int8_onnx_from_tflite(tflite), float_layers)
            else:

                def onnxruntime_int8() -> bytes:
                    """From the float weights QAT tuned; with PTQ, the float model's ONNX already converted."""
                    source = float_model_onnx if config.ptq else float_onnx(with_weights_of(model, quantized))
                    return int8_onnx(source, calibration)

                stage(INT8_ONNX, "int8", f"{method}+onnxruntime", onnxruntime_int8)
        for temp, artifact in zip(temps, artifacts, strict=True):
            os.replace(temp, run_dir / artifact.file)
            manifest.record(artifact)
        manifest.save(run_dir / MANIFEST_NAME)
    finally:
        for temp in temps:
            temp.unlink(missing_ok=True)

    report = check_parity(run_dir, reference, Thresholds(), "the validation split", measured)
    print_parity(console, report)
    if not report["passed"]:
        if config.parity_gate:
            raise ParityBreach(breach_summary(report) + " (export --no-parity-gate to keep going)")
        console.print(f"[yellow]{breach_summary(report)}; exported anyway (--no-parity-gate)[/yellow]")
    return report

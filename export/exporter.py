"""`edge export`: Keras model -> TFLite and ONNX artifacts, each measured through the runtime and recorded in
edge.json, then the parity gate over all of them."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console

from edge.config import MAX_AUTO_FLOAT_LAYERS, SKIP_QAT_MARGIN, ExportConfig, Thresholds
from edge.options import save_config
from edge.runtime import Artifact, EdgeError, Manifest
from edge.runtime.console import make_console
from edge.runtime.datasets import Dataset
from edge.runtime.files import atomic_write_bytes, sha256_file
from edge.runtime.run_dir import RunDir
from edge.train.augment import augmentation
from edge.train.legacy_keras import keras
from edge.train.progress import progress_bar
from edge.train.run import open_run

from .onnx import float_onnx, int8_onnx, int8_onnx_from_tflite, with_properties
from .parity import Reference, breach_summary, check_parity, print_parity, worst_layers
from .qat import calibrated, distill, feeding_groups, fused_group, with_weights_of
from .rounding import round_weights
from .tflite import float_tflite, int8_tflite
from .tflite_metadata import with_metadata

#: the gate that lets the calibrated int8 models skip quantization-aware training
WITH_MARGIN = Thresholds(min_agreement=Thresholds().min_agreement + SKIP_QAT_MARGIN)


def calibration_images(dataset: Dataset, seed: int, count: int) -> np.ndarray:
    """The `count` training images, drawn with the run's seed, that set int8 ranges and weight rounding."""
    return dataset.train.x[np.random.default_rng(seed).permutation(len(dataset.train))[:count]]


class ParityBreach(EdgeError):
    """An exported artifact fails the parity gate; exit code 1, not 2 (nothing the user typed was wrong)."""

    exit_code = 1


def export(config: ExportConfig, console: Console | None = None) -> dict:
    """Convert the run's model, measure each artifact on the validation split, record it in edge.json, and
    run the parity gate over every artifact; return the parity report."""
    console = console or make_console()
    run = RunDir(config.run_dir)
    manifest, model = open_run(run.root)
    float_layers = [member for name in config.keep_float if name != "auto" for member in fused_group(model, name)]
    seed = manifest.data.get("seed", 0)
    keras.utils.set_random_seed(seed)  # QAT shuffling, augmentation and dropout: a repeatable export
    with progress_bar(console, "Preparing images") as progress:
        dataset = run.dataset(manifest, progress)
    reference = Reference.of(model, manifest, dataset.validation)
    properties = manifest.properties(manifest.artifact(RunDir.MODEL).sha256)
    with Staging(run, reference, properties, console) as staging:
        staging.stage(RunDir.FLOAT_TFLITE, "float32", "float", lambda: float_tflite(model))
        float_model_onnx = staging.stage(RunDir.FLOAT_ONNX, "float32", "float", lambda: float_onnx(model))
        if config.int8:
            training = manifest.training
            augment = augmentation(seed, training.get("flip", True)) if training.get("augment") else None
            calibration = calibration_images(dataset, seed, config.calibration_images)
            Int8Export(config, model, dataset.train.x, calibration, augment, seed, float_model_onnx, staging,
                       float_layers).run()  # fmt: skip
        staging.commit(manifest)
    save_config(config, run.export_config)

    report = check_parity(run.root, reference, Thresholds(), "the validation split", staging.measured)
    print_parity(console, report)
    if not report["passed"]:
        if config.parity_gate:
            raise ParityBreach(breach_summary(report) + " (export --no-parity-gate to keep going)")
        console.print(f"[yellow]{breach_summary(report)}; exported anyway (--no-parity-gate)[/yellow]")
    return report


class Staging:
    """Artifacts written to temp files in the export folder and measured there; `commit` renames them into place
    together, followed by the manifest, so an interrupted export leaves the previous files and manifest as they
    were."""

    def __init__(self, run: RunDir, reference: Reference, properties: dict[str, str], console: Console):
        self.run = run
        self.reference, self.properties, self.console = reference, properties, console
        self.temps: list[Path] = []
        self.artifacts: list[Artifact] = []
        self.measured: dict[str, dict] = {}  #: by file: the parity gate reuses these instead of measuring again

    def __enter__(self) -> Staging:
        self.run.export.mkdir(exist_ok=True)
        for stale in self.run.export.glob(".tmp-*"):  # left by an export that was killed
            stale.unlink()
        return self

    def __exit__(self, *exception) -> None:
        for temp in self.temps:
            temp.unlink(missing_ok=True)

    def stage(self, name: str, precision: str, method: str, convert: Callable[[], bytes], kept_float=()) -> bytes:
        """Convert, write to a temp file (with the suffix the runtime reads) and measure one artifact."""
        self.console.print(f"{name}: {precision} ({method}), converting")
        started = time.perf_counter()
        model_bytes = convert()
        # the labels and input contract in the file: it runs without edge.json in edge, onnxruntime, MediaPipe
        model_bytes = (with_properties if name.endswith(".onnx") else with_metadata)(model_bytes, self.properties)
        self.temps.append(self.run.export / f".tmp-{os.getpid()}-{name}")
        atomic_write_bytes(self.temps[-1], model_bytes)
        seconds = round(time.perf_counter() - started, 1)
        self.console.print(f"{name}: measuring on {len(self.reference.images)} validation images")
        file = self.run.exported(name)
        self.measured[file] = self.reference.measure(self.temps[-1], verify=False)
        agreement, delta = self.measured[file]["agreement"], self.measured[file]["accuracy_delta"] * 100
        self.console.print(f"{name}: agreement with Keras {agreement:.4f}, accuracy {delta:+.2f} pt")
        metrics = self.measured[file] | {"size_bytes": len(model_bytes), "export_seconds": seconds}
        self.artifacts.append(Artifact(file, name.rsplit(".", 1)[1], precision, method, sha256_file(self.temps[-1]),
                                       metrics, list(kept_float)))  # fmt: skip
        return model_bytes

    def temp_of(self, name: str) -> Path:
        return self.temps[[artifact.file for artifact in self.artifacts].index(self.run.exported(name))]

    def int8_breaches(self, thresholds: Thresholds) -> list[str]:
        """How the staged int8 artifacts miss `thresholds`, each breach prefixed with its file's name."""
        files = [artifact.file for artifact in self.artifacts if artifact.precision == "int8"]
        return [f"{Path(file).name}: {breach}" for file in files
                for breach in thresholds.breaches("int8", self.measured[file])]  # fmt: skip

    def drop_int8(self) -> None:
        while self.artifacts and self.artifacts[-1].precision == "int8":
            self.temps.pop().unlink()
            self.artifacts.pop()

    def commit(self, manifest: Manifest) -> None:
        """Rename every staged artifact into the run directory, then save `manifest`."""
        for temp, artifact in zip(self.temps, self.artifacts, strict=True):
            os.replace(temp, self.run.root / artifact.file)
            manifest.record(artifact)
        self.temps.clear()
        manifest.save(self.run.manifest_file)


@dataclass
class Int8Export:
    """The int8 TFLite and ONNX models of one export: post-training with --ptq; otherwise the calibrated
    fake-quant model, trained further (QAT) when it does not pass the gate with `SKIP_QAT_MARGIN` to spare or
    --qat-always asks; with --keep-float auto, again with the worst layer in float while the gate is breached."""

    config: ExportConfig
    model: keras.Model
    train_images: np.ndarray  #: what QAT distils the float model on
    calibration: np.ndarray
    augment: keras.Model | None  #: the run's training augmentation, for models trained with it
    seed: int
    float_model_onnx: bytes
    staging: Staging
    float_layers: list[str] = field(default_factory=list)

    def run(self) -> None:
        self.stage_models()
        for _ in range(MAX_AUTO_FLOAT_LAYERS if self.config.keep_float == ("auto",) else 0):
            breaches = self.staging.int8_breaches(Thresholds())
            if not breaches:
                break
            float_file, int8_file = map(self.staging.temp_of, (RunDir.FLOAT_TFLITE, RunDir.INT8_TFLITE))
            layers = worst_layers(self.staging.reference, float_file, int8_file)
            worst = next(entry["layer"] for entry in layers if entry["layer"] not in self.float_layers)
            group = fused_group(self.model, worst)
            self.float_layers += [name for name in group + feeding_groups(self.model, group)
                                  if name not in self.float_layers]  # fmt: skip
            self.staging.console.print(f"{'; '.join(breaches)}: leaving {worst} and the layer feeding it in float, "
                                       "and quantizing again (--keep-float auto)")  # fmt: skip
            self.staging.drop_int8()
            self.stage_models()

    def stage_models(self) -> None:
        config, console = self.config, self.staging.console
        if config.round_on_data:
            console.print(f"rounding the int8 weights to reproduce each layer on {len(self.calibration)} "
                          "calibration images")  # fmt: skip
        if config.ptq:
            source = self.model
            if config.round_on_data:
                source = round_weights(self.model, self.calibration, config.batch_size, skip=self.float_layers)
            return self.stage(source, "ptq")
        quantized = calibrated(self.model, self.calibration, config, self.float_layers)
        if not config.qat_always:
            self.stage(quantized, "calibrated")
            missed = self.staging.int8_breaches(WITH_MARGIN)
            if not missed:
                agreement = WITH_MARGIN.min_agreement
                return console.print(f"calibrated int8 models pass the gate with margin (agreement >= {agreement:g}): "
                                     "quantization-aware training skipped (--qat-always to run it)")  # fmt: skip
            console.print(f"calibrated int8 models: {'; '.join(missed)}: quantization-aware training")
            self.staging.drop_int8()
        distill(quantized, self.model, self.train_images, config, augment=self.augment, seed=self.seed,
                console=console)  # fmt: skip
        self.stage(quantized, "qat")

    def stage(self, quantized: keras.Model, method: str) -> None:
        """The int8 TFLite model of `quantized` and its int8 ONNX twin, `float_layers` left in float."""
        config, calibration, float_layers, stage = self.config, self.calibration, self.float_layers, self.staging.stage
        tflite = stage(RunDir.INT8_TFLITE, "int8", method, lambda: int8_tflite(quantized, calibration, float_layers),
                       float_layers)  # fmt: skip
        if config.onnx_int8 == "tf2onnx":
            stage(RunDir.INT8_ONNX, "int8", f"{method}+tf2onnx", lambda: int8_onnx_from_tflite(tflite), float_layers)
        else:  # from the float weights QAT tuned; with PTQ, the float model's ONNX already converted
            source = self.float_model_onnx if config.ptq else float_onnx(with_weights_of(self.model, quantized))
            stage(RunDir.INT8_ONNX, "int8", f"{method}+onnxruntime", lambda: int8_onnx(source, calibration))

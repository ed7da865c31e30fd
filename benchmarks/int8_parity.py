"""Where int8 disagreement comes from: one run's Keras model against its int8 variants, on its validation split.

    python benchmarks/int8_parity.py RUN_DIR [VARIANT ...] [--no-ptq]

A VARIANT sets ExportConfig fields and the depthwise scheme, e.g. "qat_lr=1e-5,qat_epochs=2,qat_temperature=1,
round_on_data=0,depthwise=tensor" (edge before issue 14: tfmot's own depthwise quantizer, weights rounded to
nearest) or "round_on_data=0" (QAT from round-to-nearest weights); an empty one is edge's defaults.

For each variant: accuracy, Δ points and top-1 agreement with Keras, max |Δp|, and the float top-1 - top-2
margins of the images whose answer flipped. Variants: post-training int8 (PTQ), with round-to-nearest weights
and with weights rounded on data (`edge export --ptq`), the QAT model right after range
calibration ("QAT before"), after fine-tuning ("QAT after") as fake-quant Keras and as converted TFLite, and the
int8 ONNX models made from them, each under onnxruntime's default and exact (`session.x64quantprecision`) kernels.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime
from rich.console import Console

from edge.config import ExportConfig
from edge.export import qat
from edge.export.exporter import calibration_images
from edge.export.onnx import float_onnx, int8_onnx, int8_onnx_from_tflite
from edge.export.qat import distill, with_weights_of
from edge.export.rounding import round_weights
from edge.export.tflite import int8_tflite
from edge.runtime.backends import LiteRTBackend
from edge.runtime.run_dir import RunDir
from edge.train.augment import augmentation
from edge.train.legacy_keras import keras
from edge.train.run import open_run

EdgeScheme, TfmotScheme = qat.QuantizeScheme, qat.quantization.default_8bit.Default8BitQuantizeScheme


def tflite_probabilities(model_bytes: bytes, images: np.ndarray) -> np.ndarray:
    with tempfile.NamedTemporaryFile(suffix=".tflite") as file:
        file.write(model_bytes)
        file.flush()
        backend = LiteRTBackend(Path(file.name))
        return np.stack([backend.run(image) for image in images])


def onnx_probabilities(model_bytes: bytes, images: np.ndarray, exact: bool) -> np.ndarray:
    options = onnxruntime.SessionOptions()
    if exact:
        options.add_session_config_entry("session.x64quantprecision", "1")
    session = onnxruntime.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: images[i : i + 32]})[0] for i in range(0, len(images), 32)])


def row(name: str, probabilities: np.ndarray, reference: np.ndarray, labels: np.ndarray) -> str:
    top, float_top = probabilities.argmax(1), reference.argmax(1)
    ordered = np.sort(reference, axis=1)
    margins = ordered[:, -1] - ordered[:, -2]
    flipped = margins[top != float_top]
    accuracy, float_accuracy = np.mean(top == labels), np.mean(float_top == labels)
    flips = ", ".join(f"{m:.2f}" for m in np.sort(flipped)) or "-"
    return (
        f"{name:34s} {accuracy:8.4f} {100 * (accuracy - float_accuracy):+6.2f} {np.mean(top == float_top):9.4f} "
        f"{np.abs(probabilities - reference).max():8.3f}  {len(flipped):3d}  {flips}"
    )


def variant(text: str) -> dict:
    """ "qat_lr=1e-4,qat_epochs=2,qat_temperature=1,depthwise=tensor" -> one QAT variant (unnamed: edge's)."""
    options = {"depthwise": "channel"}
    for item in filter(None, text.split(",")):
        key, value = item.split("=")
        options[key] = value if key == "depthwise" else type(getattr(ExportConfig, key))(float(value))
    return options


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("variants", nargs="*", default=[""], help='e.g. "qat_lr=1e-4,depthwise=tensor"')
    parser.add_argument("--no-ptq", action="store_true")
    args = parser.parse_args()
    manifest, model = open_run(args.run)
    seed = manifest.data.get("seed", 0)
    dataset = RunDir(args.run).dataset(manifest)
    images, labels = dataset.validation.x, dataset.validation.y
    calibration = calibration_images(dataset, seed, ExportConfig.calibration_images)
    reference = model.predict(images, batch_size=32, verbose=0)
    lines = []

    def report(name: str, probabilities: np.ndarray) -> None:
        lines.append(row(name, probabilities, reference, labels))
        print(lines[-1], flush=True)

    print(f"{args.run}: n={len(labels)}, Keras accuracy {np.mean(reference.argmax(1) == labels):.4f}")
    print(f"{'variant':44s} {'accuracy':>8s} {'Δ pt':>6s} {'agreement':>9s} {'max|Δp|':>8s} flips (float margins)")
    if not args.no_ptq:
        report("PTQ tflite", tflite_probabilities(int8_tflite(model, calibration), images))
        report("PTQ onnx onnxruntime", onnx_probabilities(int8_onnx(float_onnx(model), calibration), images, True))
        rounded = int8_tflite(round_weights(model, calibration, 32), calibration)
        report("PTQ rounded on data: tflite", tflite_probabilities(rounded, images))
        report("PTQ rounded on data: onnx tf2onnx", onnx_probabilities(int8_onnx_from_tflite(rounded), images, True))
    training = manifest.training
    augment = augmentation(seed, training.get("flip", True)) if training.get("augment") else None
    for options in map(variant, args.variants):
        keras.utils.set_random_seed(seed)
        name = ",".join(f"{key}={value}" for key, value in options.items())
        depthwise = options.pop("depthwise")
        qat.QuantizeScheme = EdgeScheme if depthwise == "channel" else TfmotScheme
        config = ExportConfig(args.run, int8=True, **options)
        quantized = qat.calibrated(model, calibration, config)
        report(f"QAT before [{name}]: keras", quantized.predict(images, batch_size=32, verbose=0))
        before = int8_tflite(quantized, calibration)  # what edge export keeps when it passes with margin
        report(f"QAT before [{name}]: tflite", tflite_probabilities(before, images))
        report(f"QAT before [{name}]: onnx tf2onnx", onnx_probabilities(int8_onnx_from_tflite(before), images, True))
        started = time.perf_counter()
        distill(quantized, model, dataset.train.x, config, augment=augment, seed=seed, console=Console())
        print(f"QAT {name}: {time.perf_counter() - started:.0f} s")
        report(f"QAT after [{name}]: keras", quantized.predict(images, batch_size=32, verbose=0))
        after = int8_tflite(quantized, calibration)
        report(f"QAT after [{name}]: tflite", tflite_probabilities(after, images))
        translated = int8_onnx_from_tflite(after)
        report(f"QAT after [{name}]: onnx tf2onnx default kernels", onnx_probabilities(translated, images, False))
        report(f"QAT after [{name}]: onnx tf2onnx exact kernels", onnx_probabilities(translated, images, True))
        requantized = int8_onnx(float_onnx(with_weights_of(model, quantized)), calibration)
        report(f"QAT after [{name}]: onnx onnxruntime", onnx_probabilities(requantized, images, True))
    Console().print("\n".join(lines), highlight=False, soft_wrap=True)


if __name__ == "__main__":
    sys.exit(main())

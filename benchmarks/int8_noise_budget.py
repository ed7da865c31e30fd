"""Where an int8 model's error comes from: the fake-quant model with groups of quantizers switched off.

    python benchmarks/int8_noise_budget.py RUN_DIR [--rounded]

The model is the run's Keras model quantized with edge's scheme and calibrated on 256 training images (where QAT
starts; its int8 TFLite agrees with Keras like post-training int8), with `--rounded` its weights first rounded on
data as `edge export --ptq` does. For each group switched back to float, on the validation split: the standard
deviation of the change in each image's top-1 - top-2 logit margin (what decides whether an answer flips), and
the flips. A group whose removal takes most of the error away is where to look.

Switching a quantizer off patches a private function of tfmot (edge.train.compat's `quantizers_off`): fine for
a measurement, never for an export.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge.config import ExportConfig
from edge.export.exporter import calibration_images
from edge.export.qat import calibrate_ranges, quantize
from edge.export.rounding import round_weights
from edge.runtime.run_dir import RunDir
from edge.train.compat import quantizers_off
from edge.train.run import open_run

GROUPS: dict[str, Callable[[str], bool]] = {
    "all quantized": lambda name: False,
    "weights in float": lambda name: "kernel" in name,
    "activations in float": lambda name: "kernel" not in name,
    "residual stream (project, add) in float": lambda name: re.search(r"(project|_add)", name) and "kernel" not in name,
    "ReLU6 outputs in float": lambda name: "relu" in name and "kernel" not in name,
    "head (pool, dense) in float": lambda name: re.search(r"(pool|predictions)", name) is not None,
    "Conv1 to block 5 in float": lambda name: re.search(r"(Conv1|expanded_conv|block_[1-5]_)", name) is not None,
    "blocks 6-12 in float": lambda name: re.search(r"block_([6-9]|1[0-2])_", name) is not None,
    "blocks 13-16 and Conv_1 in float": lambda name: re.search(r"(block_1[3-6]_|out_relu|Conv_1)", name) is not None,
    "expanded_conv_depthwise kernel in float": lambda name: "expanded_conv_depthwise/depthwise_kernel" in name,
    "expanded_conv_project kernel in float": lambda name: "expanded_conv_project/kernel" in name,
    "block_1_depthwise kernel in float": lambda name: "block_1_depthwise/depthwise_kernel" in name,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--rounded", action="store_true", help="weights rounded on data first (edge export --ptq)")
    args = parser.parse_args()
    manifest, model = open_run(args.run)
    dataset = RunDir(args.run).dataset(manifest)
    images = dataset.validation.x
    calibration = calibration_images(dataset, manifest.data.get("seed", 0), ExportConfig.calibration_images)
    reference = np.log(np.maximum(model.predict(images, batch_size=32, verbose=0), 1e-30))
    order = np.argsort(reference, axis=1)
    top, second = order[:, -1], order[:, -2]
    rows = np.arange(len(images))
    margins = reference[rows, top] - reference[rows, second]
    quantized = quantize(round_weights(model, calibration, 32) if args.rounded else model)
    calibrate_ranges(quantized, calibration, 32)

    for group, in_float in GROUPS.items():
        with quantizers_off(in_float):  # eager batches: the patch runs on every call instead of once into a graph
            batches = [
                quantized(images[i : i + 32].astype(np.float32), training=False) for i in range(0, len(images), 32)
            ]
        logits = np.log(np.maximum(np.concatenate(batches), 1e-30))
        change = logits[rows, top] - logits[rows, second] - margins
        flips = int(np.sum(logits.argmax(axis=1) != top))
        print(f"{group:42s} margin change std {change.std():.3f}  flips {flips:3d} of {len(images)}", flush=True)


if __name__ == "__main__":
    sys.exit(main())

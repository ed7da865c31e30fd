"""Accuracy, size and invoke latency of every exported artifact (TFLite and ONNX) of one or more runs, side by
side in one process: with runs of different backbones, the per-backbone table.

    python benchmarks/latency.py runs/NAME [runs/OTHER ...] [--runs 100] [--threads N]

Batch 1, after warm-up, through the runtime's backend (what `edge infer` runs); medians and the ratio to the
run's float TFLite model, since this machine is shared and absolute times are noisy. Accuracy is what
`edge export` measured on the run's validation split (recorded in edge.json).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from edge.runtime import Classifier, Manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs_dirs", type=Path, nargs="+", metavar="RUN")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    print(f"{args.runs} runs after {args.warmup} warm-up, batch 1, threads={args.threads or 'all'}")
    print(f"{'model':<28}{'artifact':<20}{'accuracy':>9}{'MB':>7}{'size ratio':>12}{'p50 ms':>9}{'latency ratio':>15}")
    for run in args.runs_dirs:
        manifest = Manifest.load(run / "edge.json")
        backbone = manifest.backbone
        width = f" a{backbone['alpha']}" if backbone["name"] == "mobilenet_v2" else ""
        name = f"{backbone['name']}{width} {manifest.input_size[0]}px"
        rows = [(artifact, *_measure(run / artifact.file, args)) for artifact in manifest.artifacts
                if artifact.format != "keras"]  # fmt: skip
        baseline = next((median, size) for artifact, median, size in rows if artifact.precision == "float32")
        for artifact, median, size in rows:
            accuracy = artifact.metrics.get("accuracy", float("nan"))
            print(f"{name:<28}{Path(artifact.file).name:<20}{accuracy:>9.4f}{size:>7.2f}{size / baseline[1]:>12.2f}"
                  f"{median:>9.2f}{median / baseline[0]:>15.2f}")  # fmt: skip


def _measure(path: Path, args) -> tuple[float, float]:
    """Median invoke milliseconds and size in MB of one model file."""
    classifier = Classifier(path, threads=args.threads)
    pixels = np.random.default_rng(0).integers(0, 256, (*classifier.input_size, 3), dtype=np.uint8)
    for _ in range(args.warmup):
        classifier.backend.run(pixels)
    times = []
    for _ in range(args.runs):
        started = time.perf_counter()
        classifier.backend.run(pixels)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), path.stat().st_size / 1e6


if __name__ == "__main__":
    main()

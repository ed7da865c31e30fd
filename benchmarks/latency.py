"""Invoke latency and size of every exported artifact (TFLite and ONNX) of a run, side by side in one process.

    python benchmarks/latency.py runs/NAME [--runs 100] [--threads N]

Batch 1, after warm-up, through the runtime's backend (what `edge infer` runs); medians and the ratio to the
float model, since this machine is shared and absolute times are noisy.
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
    parser.add_argument("run", type=Path)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    manifest = Manifest.load(args.run / "edge.json")
    rows = []
    for artifact in manifest.artifacts:
        if artifact.format == "keras":
            continue
        classifier = Classifier(args.run / artifact.file, threads=args.threads)
        pixels = np.random.default_rng(0).integers(0, 256, (*classifier.input_size, 3), dtype=np.uint8)
        for _ in range(args.warmup):
            classifier.backend.run(pixels)
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            classifier.backend.run(pixels)
            times.append((time.perf_counter() - started) * 1000)
        rows.append((artifact, statistics.median(times), (args.run / artifact.file).stat().st_size / 1e6))

    baseline = next((median, size) for artifact, median, size in rows if artifact.precision == "float32")
    print(f"{args.run}: {manifest.input_size[0]}px, {args.runs} runs, threads={args.threads or 'all'}")
    print(f"{'artifact':<28}{'MB':>7}{'size ratio':>12}{'p50 ms':>9}{'latency ratio':>15}")
    for artifact, median, size in rows:
        print(f"{artifact.file:<28}{size:>7.2f}{size / baseline[1]:>12.2f}{median:>9.2f}{median / baseline[0]:>15.2f}")


if __name__ == "__main__":
    main()

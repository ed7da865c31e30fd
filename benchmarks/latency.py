"""Accuracy, size and invoke latency of every exported artifact (TFLite and ONNX) of one or more runs, side by
side in one run: with runs of different backbones, the per-backbone table.

    python benchmarks/latency.py runs/NAME [runs/OTHER ...] [--runs 100] [--threads N]

Measured by `edge bench` (batch 1, after warm-up, each model in a fresh process); medians and the ratio to the
run's float TFLite model, since this machine is shared and absolute times are noisy. Accuracy is what
`edge export` measured on the run's validation split (recorded in edge.json).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edge.runtime import Manifest
from edge.runtime.bench import bench


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
        artifacts = [artifact for artifact in manifest.artifacts if artifact.format != "keras"]
        rows = bench([run / artifact.file for artifact in artifacts], None, runs=args.runs, warmup=args.warmup,
                     threads=args.threads)  # fmt: skip
        baseline = next(row for row in rows if row.precision == "float32")
        for artifact, row in zip(artifacts, rows, strict=True):
            accuracy = artifact.metrics.get("accuracy", float("nan"))
            print(f"{name:<28}{Path(artifact.file).name:<20}{accuracy:>9.4f}{row.size_mb:>7.2f}"
                  f"{row.size_mb / baseline.size_mb:>12.2f}{row.latency_ms_p50:>9.2f}"
                  f"{row.latency_ms_p50 / baseline.latency_ms_p50:>15.2f}")  # fmt: skip


if __name__ == "__main__":
    main()

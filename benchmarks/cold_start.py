"""Cold start of the command line: `edge --help`, and `edge infer` classifying one image, in fresh processes.

    python benchmarks/cold_start.py runs/NAME [--repeat 7]

Run it with the interpreter of the install you want to measure (e.g. a runtime-only venv). Prints medians.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image


def median_seconds(command: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    photo = Path(args.run) / "export" / ".cold_start_photo.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)).save(photo)
    edge = [sys.executable, "-m", "edge"]
    try:
        print(f"python: {sys.executable}")
        print(f"edge --help: {median_seconds([*edge, '--help'], args.repeat):.2f} s (median of {args.repeat})")
        for model in sorted((args.run / "export").glob("*.tflite")):
            seconds = median_seconds([*edge, "infer", str(model), str(photo)], args.repeat)
            print(f"edge infer {model.name} on one 640x480 JPEG: {seconds:.2f} s (median of {args.repeat})")
    finally:
        photo.unlink(missing_ok=True)


if __name__ == "__main__":
    main()

"""How far MediaPipe Tasks' answers are from edge's on the same exported TFLite models, and why.

    python benchmarks/mediapipe_skew.py runs/NAME DATA_DIR

For each `.tflite` in the run's export folder and every photo of `DATA_DIR/<class>/`: the share of photos where
MediaPipe's `ImageClassifier` (`mediapipe_client.py`, in MediaPipe's venv) gives edge's top-1, given the photo
file (MediaPipe resizes it) and given the pixels `edge.runtime.load_image` resized; and the accuracy of each.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from edge.runtime import Classifier, load_image

REPO = Path(__file__).resolve().parents[1]
CLIENT = REPO / "benchmarks/mediapipe_client.py"
MEDIAPIPE_PYTHON = REPO / ".venv/mediapipe/bin/python"


def mediapipe_top1(model: Path, photos: list[Path], *options: str) -> list[str]:
    command = [str(MEDIAPIPE_PYTHON), str(CLIENT), str(model), *map(str, photos), *options]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"{model}: MediaPipe failed: {result.stderr.strip().splitlines()[-1]}")
    return json.loads(result.stdout)


def share_equal(answers: list[str], others: list[str]) -> float:
    return sum(a == b for a, b in zip(answers, others, strict=True)) / len(answers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("data", type=Path)
    args = parser.parse_args()
    photos = sorted(path for path in args.data.glob("*/*") if path.is_file())
    truth = [photo.parent.name for photo in photos]
    print(f"{len(photos)} photos of {args.data}, models of {args.run}\n")
    print("| model | MediaPipe = edge (photo file) | MediaPipe = edge (edge-resized) | accuracy edge | MediaPipe |")
    print("|---|---|---|---|---|")
    for model in sorted((args.run / "export").glob("*.tflite")):
        edge = Classifier(model)
        answers = [top[0].label for top in edge.predict_batch(photos, top_k=1)]
        with tempfile.NamedTemporaryFile(suffix=".npy") as resized:
            np.save(resized.name, np.stack([load_image(photo, edge.input_size) for photo in photos]))
            from_resized = mediapipe_top1(model, photos, "--resized", resized.name)
        from_files = mediapipe_top1(model, photos)
        print(f"| {model.name} | {share_equal(from_files, answers):.4f} | {share_equal(from_resized, answers):.4f} | "
              f"{share_equal(answers, truth):.4f} | {share_equal(from_files, truth):.4f} |")  # fmt: skip


if __name__ == "__main__":
    main()

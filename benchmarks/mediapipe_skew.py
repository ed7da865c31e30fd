"""How far MediaPipe Tasks' answers are from edge's on the same exported TFLite models, and why.

    python benchmarks/mediapipe_skew.py runs/NAME DATA_DIR

For each `.tflite` in the run's export folder and every photo of `DATA_DIR/<class>/`: the share of photos where
MediaPipe's `ImageClassifier` gives edge's top-1, given the photo file (MediaPipe resizes it itself) and given the
pixels `edge.runtime.load_image` resized (MediaPipe's resize is then the identity), and each one's accuracy.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import mediapipe
from mediapipe.tasks.python import BaseOptions
from mediapipe.tasks.python.vision import ImageClassifier, ImageClassifierOptions

from edge.runtime import Classifier, load_image


def share_equal(answers: list[str], others: list[str]) -> float:
    return sum(a == b for a, b in zip(answers, others, strict=True)) / len(answers)


def top1(classifier: ImageClassifier, image: mediapipe.Image) -> str:
    return classifier.classify(image).classifications[0].categories[0].category_name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("data", type=Path)
    args = parser.parse_args()
    photos = sorted(path for path in args.data.glob("*/*") if path.is_file())
    truth = [photo.parent.name for photo in photos]
    print(f"{len(photos)} photos of {args.data}")
    print("| model | MediaPipe = edge (file) | MediaPipe = edge (edge-resized) | accuracy edge | MediaPipe (file) |")
    print("|---|---|---|---|---|")
    for model in sorted((args.run / "export").glob("*.tflite")):
        edge = Classifier(model)
        answers = [top[0].label for top in edge.predict_batch(photos, top_k=1)]
        resized = [mediapipe.Image(image_format=mediapipe.ImageFormat.SRGB, data=load_image(photo, edge.input_size))
                   for photo in photos]  # fmt: skip
        options = ImageClassifierOptions(base_options=BaseOptions(model_asset_path=str(model)), max_results=1)
        with ImageClassifier.create_from_options(options) as classifier:
            from_files = [top1(classifier, mediapipe.Image.create_from_file(str(photo))) for photo in photos]
            from_resized = [top1(classifier, image) for image in resized]
        print(f"| {model.name} | {share_equal(from_files, answers):.4f} | {share_equal(from_resized, answers):.4f} | "
              f"{share_equal(answers, truth):.4f} | {share_equal(from_files, truth):.4f} |")  # fmt: skip


if __name__ == "__main__":
    main()

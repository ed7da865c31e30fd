"""A MediaPipe Tasks app: the top-1 label MediaPipe's ImageClassifier gives each photo, from an exported `.tflite`
and its metadata alone.

    python benchmarks/mediapipe_client.py MODEL PHOTO... [--resized PIXELS.npy]

Runs under MediaPipe's own interpreter (`.venv/mediapipe/bin/python`, made by `make test`), without edge or
TensorFlow, and prints one JSON list of labels. With `--resized`, it classifies the `uint8[N, H, W, 3]` RGB images
in that file, the photos already resized, instead of decoding and resizing the photos itself.
"""

from __future__ import annotations

import argparse
import json

import mediapipe
import numpy as np
from mediapipe.tasks.python import BaseOptions
from mediapipe.tasks.python.vision import ImageClassifier, ImageClassifierOptions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model")
    parser.add_argument("photos", nargs="+")
    parser.add_argument("--resized", help="a .npy of the photos already resized to the model's input")
    args = parser.parse_args()
    if args.resized:
        images = [mediapipe.Image(image_format=mediapipe.ImageFormat.SRGB, data=pixels)
                  for pixels in np.load(args.resized)]  # fmt: skip
    else:
        images = [mediapipe.Image.create_from_file(photo) for photo in args.photos]
    options = ImageClassifierOptions(base_options=BaseOptions(model_asset_path=args.model), max_results=1)
    with ImageClassifier.create_from_options(options) as classifier:
        labels = [classifier.classify(image).classifications[0].categories[0].category_name for image in images]
    print(json.dumps(labels))


if __name__ == "__main__":
    main()

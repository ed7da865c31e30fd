"""The runtime's own costs on one exported model: decoding large photos, and the Classifier wrapper.

    python benchmarks/device.py runs/NAME/export/model_int8.tflite [--runs 50] [--threads N]

1. End-to-end (decode + resize + invoke) on a 4032x3024 JPEG against a 640x480 one: Pillow's JPEG draft mode
   decodes the large one at a reduced DCT scale, so the ratio should stay under 2.
2. A folder of such photos, one after another (`probabilities`) against `predict_each`, which decodes the next
   ones in threads while the current one runs: milliseconds per image for each size.
3. Decoding alone, to at least the model's input size, on the same two JPEGs: Pillow at full scale and in draft
   mode (what edge does), and OpenCV's reduced decode when OpenCV is installed (the video extra): whether
   another decoder would do better.
4. `Classifier.probabilities` on a ready uint8 array, and the backend's `run`, against a bare LiteRT
   `invoke()` with its input already set, same model and threads: the wrapper's overhead.
Medians of interleaved runs, since this machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from edge.runtime import Classifier
from edge.runtime.bench import stand_in_photo

STREAM_LENGTH = 12


def interleaved_medians(calls: dict, runs: int) -> dict[str, float]:
    """Median milliseconds of each call, the calls taking turns so that load changes hit all of them alike."""
    times = {name: [] for name in calls}
    for _ in range(runs):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            times[name].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    classifier = Classifier(args.model, threads=args.threads)

    with tempfile.TemporaryDirectory() as folder:
        photos = {}
        for width, height in ((640, 480), (4032, 3024)):
            photos[f"{width}x{height}"] = Path(folder) / f"{width}x{height}.jpg"
            stand_in_photo(photos[f"{width}x{height}"], (width, height))
        decode = interleaved_medians(
            {name: partial(classifier.probabilities, path) for name, path in photos.items()}, args.runs
        )
        print(f"{args.model}: end-to-end p50 " + ", ".join(f"{name} {ms:.2f} ms" for name, ms in decode.items()))
        print(f"12-megapixel / VGA ratio: {decode['4032x3024'] / decode['640x480']:.2f} (target <= 2)")

        calls = {}
        for name, path in photos.items():
            folder_of_photos = [path] * STREAM_LENGTH
            calls[f"{name} one by one"] = lambda f=folder_of_photos: [classifier.probabilities(p) for p in f]
            calls[f"{name} predict_each"] = lambda f=folder_of_photos: list(
                classifier.predict_each(f, workers=args.threads)
            )
        streams = interleaved_medians(calls, max(3, args.runs // 10))
        print(
            f"folder of {STREAM_LENGTH} photos, ms per image: "
            + ", ".join(f"{name} {ms / STREAM_LENGTH:.2f}" for name, ms in streams.items())
        )
        decoders = interleaved_medians(decoder_calls(photos, classifier.input_size), args.runs)
        for name, ms in decoders.items():
            print(f"decode only, {name:<44}{ms:>8.2f} ms")

    if args.model.suffix != ".tflite":
        return
    from ai_edge_litert.interpreter import Interpreter

    pixels = np.random.default_rng(0).integers(0, 256, (*classifier.input_size, 3), dtype=np.uint8)
    bare = Interpreter(model_path=str(args.model), num_threads=args.threads or os.cpu_count())
    bare.allocate_tensors()
    detail = bare.get_input_details()[0]
    bare.set_tensor(detail["index"], pixels[None].astype(detail["dtype"]))
    for _ in range(10):
        bare.invoke(), classifier.probabilities(pixels)
    overhead = interleaved_medians(
        {"bare invoke()": bare.invoke, "backend.run": lambda: classifier.backend.run(pixels),
         "Classifier.probabilities": lambda: classifier.probabilities(pixels)}, args.runs * 4)  # fmt: skip
    base = overhead["bare invoke()"]
    for name, ms in overhead.items():
        print(f"{name:<26}{ms:>8.3f} ms  {ms / base - 1:>+7.1%}")


def decoder_calls(photos: dict[str, Path], size: tuple[int, int]) -> dict:
    """Decode-only calls per photo: Pillow full scale and draft (the smallest DCT scale still >= `size`), and
    OpenCV's reduced decode at the scale Pillow's draft picks, when OpenCV is installed."""

    def pillow(path: Path, draft: bool) -> None:
        with Image.open(path) as image:
            if draft:
                image.draft("RGB", size[::-1])
            image.load()

    try:
        import cv2
    except ImportError:
        cv2 = None
    calls = {}
    for name, path in photos.items():
        calls[f"{name} Pillow full scale"] = partial(pillow, path, False)
        calls[f"{name} Pillow draft (edge)"] = partial(pillow, path, True)
        if cv2 is None:
            continue
        with Image.open(path) as image:
            full_width = image.width
            image.draft("RGB", size[::-1])
            scale = full_width // image.width
        flag = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                8: cv2.IMREAD_REDUCED_COLOR_8}[scale]  # fmt: skip
        calls[f"{name} OpenCV 1/{scale}"] = partial(cv2.imread, str(path), flag)
    return calls


if __name__ == "__main__":
    main()

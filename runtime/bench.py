"""`edge bench`: a model-zoo style table of exported models, measured through the runtime a device runs.

Each model is measured in a fresh process, so that its peak RSS is its own and one model's caches do not
warm the next one's.
"""

from __future__ import annotations

import multiprocessing
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .classifier import Classifier
from .errors import ImageError
from .preprocess import IMAGE_EXTENSIONS, image_files, load_image

#: A generated camera-sized photo stands in when no --data is given (nothing is shipped with the package).
STAND_IN_SIZE = (640, 480)


@dataclass
class BenchRow:
    model: str
    format: str  #: "tflite" or "onnx"
    precision: str  #: "float32" or "int8", from the manifest
    size_mb: float
    latency_ms_p50: float  #: invoke only, batch 1, after warm-up
    latency_ms_p95: float
    e2e_ms_p50: float  #: decode + resize + invoke of a real image file
    peak_rss_mb: float  #: of the process that loaded and ran only this model
    accuracy: float | None  #: when --data is a labelled folder (DIR/<class>/*), else None
    images: int  #: images used for the end-to-end latency (and accuracy)


def bench(models: list[Path], data: Path | None, *, runs: int, warmup: int, threads: int | None) -> list[BenchRow]:
    """One row per model file, each measured in its own fresh process."""
    with tempfile.TemporaryDirectory() as folder:
        if data is None:
            data = Path(folder) / "stand_in.jpg"
            stand_in_photo(data)
        context = multiprocessing.get_context("spawn")
        rows = []
        for model in models:
            with ProcessPoolExecutor(max_workers=1, mp_context=context) as worker:
                rows.append(worker.submit(measure, model, data, runs, warmup, threads).result())
        return rows


def measure(model: Path, data: Path, runs: int, warmup: int, threads: int | None) -> BenchRow:
    """Measure one model file (called in a fresh process by `bench`)."""
    classifier = Classifier(model, threads=threads)
    pixels = load_image(Image.new("RGB", (8, 8), (128, 128, 128)), classifier.input_size)
    for _ in range(warmup):
        classifier.backend.run(pixels)
    invoke = _times(lambda: classifier.backend.run(pixels), runs)

    files, truth = _images(data, classifier.labels)
    if not files:
        raise ImageError(f"{data}: no image files ({', '.join(sorted(IMAGE_EXTENSIONS))})")
    predicted, e2e = [], []
    for index in range(max(runs, len(files)) if truth is not None else runs):
        started = time.perf_counter()
        scores = classifier.probabilities(files[index % len(files)])
        e2e.append((time.perf_counter() - started) * 1000)
        if index < len(files):
            predicted.append(int(scores.argmax()))
    accuracy = None if truth is None else float(np.mean(np.array(predicted) == np.array(truth)))
    artifact = classifier.manifest.verify(model)
    return BenchRow(
        model=str(model),
        format="onnx" if model.suffix == ".onnx" else "tflite",
        precision=artifact.precision if artifact is not None else "unknown",
        size_mb=round(model.stat().st_size / 1e6, 3),
        latency_ms_p50=round(statistics.median(invoke), 3),
        latency_ms_p95=round(float(np.percentile(invoke, 95)), 3),
        e2e_ms_p50=round(statistics.median(e2e), 3),
        peak_rss_mb=round(_peak_rss_mb(), 1),
        accuracy=accuracy,
        images=len(files),
    )


def rows_as_json(rows: list[BenchRow]) -> list[dict]:
    return [asdict(row) for row in rows]


def _images(data: Path, labels: list[str]) -> tuple[list[Path], list[int] | None]:
    """Image files of `data` (a file, a folder, or a labelled DIR/<class>/* folder) and their labels' indexes."""
    if data.is_file():
        return [data], None
    if not data.is_dir():
        raise ImageError(f"{data}: no such file or directory")
    classes = [folder for folder in sorted(data.iterdir()) if folder.is_dir() and folder.name in labels]
    if classes:
        pairs = [(path, labels.index(folder.name)) for folder in classes for path in image_files(folder)]
        return [path for path, _ in pairs], [label for _, label in pairs]
    return image_files(data), None


def _times(call, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


def stand_in_photo(path: Path, size: tuple[int, int] = STAND_IN_SIZE) -> None:
    """A smooth, photo-like JPEG of `size` (width, height): it decodes at the cost of a camera photo that size."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    rgb = np.stack([np.sin(7 * x + 3 * y), np.cos(5 * y - 2 * x), np.sin(4 * x * y + 1)], axis=-1)
    noise = np.random.default_rng(0).normal(0, 0.05, rgb.shape)
    Image.fromarray(((rgb + noise + 1) * 127.5).clip(0, 255).astype(np.uint8)).save(path, quality=90)

"""`edge demo`: the whole job, offline, on a dataset of drawn shapes that the demo generates itself."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from rich.table import Table

from edge.runtime import Classifier
from edge.runtime.console import make_console

SHAPES = ("circle", "square", "triangle", "star")
MARKER = ".edge-demo"  #: marks a folder the demo made, so that a re-run may replace it and nothing else


def run_demo(out: Path, weights: str = "imagenet", images_per_class: int = 60) -> None:
    from edge.export import ExportConfig, export
    from edge.train import TrainConfig, train
    from edge.train.weights import WeightsUnavailable

    console = make_console()
    _reset(out)
    data, samples = out / "shapes", out / "samples"
    make_shapes(data, images_per_class, seed=0)
    make_shapes(samples, 1, seed=1)
    console.print(f"generated {images_per_class} images per class of {', '.join(SHAPES)} in {data}")

    config = dict(data_dir=data, out=out / "run", alpha=0.35, image_size=96, epochs=8, fine_tune_epochs=4, augment=True)
    try:
        run = train(TrainConfig(**config, weights=weights), console)
    except WeightsUnavailable as error:
        console.print(f"[yellow]{error}; continuing with random initialisation[/yellow]")
        run = train(TrainConfig(**config, weights="none"), console)
    # The demo shows the parity gate's verdict; on 48 validation images one flip is 2 points of agreement.
    report = export(ExportConfig(run, int8=True, parity_gate=False), console)

    exported = [row for row in report["rows"] if row["artifact"] != "model.keras"]
    classifiers = [Classifier(run / row["artifact"]) for row in exported]
    table = Table("sample", *(Path(row["artifact"]).name for row in exported), box=None, pad_edge=False)
    for path in sorted(samples.rglob("*.jpg")):
        cells = [f"{best.label} {best.score:.2f}" for best in (c.predict(path, top_k=1)[0] for c in classifiers)]
        table.add_row(f"{path.parent.name}/{path.name}", *cells)
    console.print(table)
    for row in report["rows"]:
        console.print(f"{Path(row['artifact']).name}: {row['precision']} validation accuracy {row['accuracy']:.3f}")
    console.print(f"try: edge infer {run / 'export/model_int8.tflite'} {samples}")


def make_shapes(root: Path, per_class: int, seed: int, size: int = 128) -> None:
    """Write `per_class` JPEGs of each shape: random colours, sizes, positions, rotations and noisy backgrounds."""
    rng = np.random.default_rng(seed)
    for shape in SHAPES:
        (root / shape).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            _draw(shape, rng, size).save(root / shape / f"{shape}_{index:03d}.jpg", quality=90)


def _draw(shape: str, rng: np.random.Generator, size: int) -> Image.Image:
    background = rng.integers(0, 256, 3)
    noise = rng.normal(0, 18, (size, size, 3))
    image = Image.fromarray(np.clip(background + noise, 0, 255).astype(np.uint8))
    colour = tuple(int(c) for c in (background + 128 + rng.integers(-40, 40, 3)) % 256)
    radius = size * rng.uniform(0.2, 0.38)
    cx, cy = (rng.uniform(radius, size - radius) for _ in range(2))
    angle = rng.uniform(0, 2 * math.pi)
    draw = ImageDraw.Draw(image)
    if shape == "circle":
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=colour)
    else:
        corners = {"square": 4, "triangle": 3, "star": 10}[shape]
        points = []
        for k in range(corners):
            r = radius * (0.45 if shape == "star" and k % 2 else 1.0)
            theta = angle + 2 * math.pi * k / corners
            points.append((cx + r * math.cos(theta), cy + r * math.sin(theta)))
        draw.polygon(points, fill=colour)
    return image.filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.2)))


def _reset(out: Path) -> None:
    if out.exists():
        if not (out / MARKER).exists():
            from edge.runtime import EdgeError

            raise EdgeError(f"{out} exists and was not made by edge demo; pass another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).touch()

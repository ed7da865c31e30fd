"""`edge demo`: the whole job, offline, on a dataset of drawn shapes that the demo generates itself."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from PIL import Image, ImageDraw, ImageFilter
from rich.table import Table

from edge.extras import training_extra
from edge.runtime import Classifier
from edge.runtime.console import make_console
from edge.runtime.run_dir import RunDir

SHAPES = ("circle", "square", "triangle", "star")
MARKER = ".edge-demo"  #: marks a folder the demo made, so that a re-run may replace it and nothing else


def command(
    out: Annotated[Path, typer.Option(help="Where the generated dataset and the run go.")] = Path("runs/demo"),
    weights: Annotated[
        str,
        typer.Option(
            help="imagenet (EfficientNet-Lite0's, from the package edge's train extra installs: no network "
            "needed), none (a small MobileNetV2 trains from scratch on 5x the images for 60 epochs, minutes "
            "longer, exported without the parity gate) or a weights file."
        ),
    ] = "imagenet",
) -> None:
    """Run the whole job offline on a generated dataset of photo-like shapes: train EfficientNet-Lite0,
    export --int8 through the parity gate, classify sample photos in every format."""
    run_demo(out, weights)


def run_demo(out: Path, weights: str = "imagenet") -> None:
    with training_extra("edge demo"):
        from edge.export import ExportConfig, export
        from edge.train import TrainConfig, train

    console = make_console()
    _reset(out)
    scratch = weights == "none"
    # from random weights a network needs far more images and epochs than fine-tuning ImageNet's: with 60 images
    # per class it stayed at 0.25-0.44 validation accuracy, with 300 and 60 epochs it reached 0.90
    images_per_class = 300 if scratch else 60
    data, samples = out / "shapes", out / "samples"
    make_shapes(data, images_per_class, seed=0)
    make_shapes(samples, 1, seed=1)
    console.print(f"generated {images_per_class} photo-like images per class of {', '.join(SHAPES)} in {data}")
    if scratch:  # a small MobileNetV2, which learns them in minutes; no early stop on a noisy start
        config = TrainConfig(data, out=out / "run", alpha=0.35, image_size=96, weights=weights, epochs=40,
                             fine_tune_epochs=20, patience=60)  # fmt: skip
    else:  # EfficientNet-Lite0: its ImageNet weights come with edge's train extra, so a fresh machine offline has them
        config = TrainConfig(data, out=out / "run", model="efficientnet_lite0", image_size=128, weights=weights,
                             epochs=8, fine_tune_epochs=4)  # fmt: skip
    run = train(config, console)
    if scratch:
        console.print("[yellow]trained from scratch: exporting without the parity gate (its verdict is below)[/yellow]")
    report = export(ExportConfig(run, int8=True, parity_gate=not scratch), console)

    exported = [row for row in report["rows"] if row["artifact"] != RunDir.MODEL]
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
    """Write `per_class` JPEGs of each shape, rendered like photos of objects: textured surfaces, a light
    from one side, a soft shadow, a textured background, defocus and sensor noise, all drawn at random."""
    rng = np.random.default_rng(seed)
    for shape in SHAPES:
        (root / shape).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            _photo(shape, rng, size).save(root / shape / f"{shape}_{index:03d}.jpg", quality=90)


def _photo(shape: str, rng: np.random.Generator, size: int) -> Image.Image:
    light = _gradient(rng, size, 0.55, 1.25)  # one light for the whole scene
    base = rng.integers(0, 256, 3)
    background = _texture(rng, size, base)
    mask = _mask(shape, rng, size)
    background = background * (1 - 0.5 * _shadow(mask, rng))[..., None]
    colour = (base + 128 + rng.integers(-40, 40, 3)) % 256  # a hue away from the background's, as objects are
    surface = _texture(rng, size, colour) * _gradient(rng, size, 0.7, 1.15)[..., None]  # its own shading
    scene = (background + (surface - background) * mask[..., None]) * light[..., None]
    scene += rng.normal(0, rng.uniform(2, 8), scene.shape)  # sensor noise
    image = Image.fromarray(np.clip(scene, 0, 255).astype(np.uint8))
    return image.filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.0)))  # focus


def _shadow(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The object's soft shadow, 0-1: its mask shifted down-right by a few pixels and blurred."""
    shifted = Image.fromarray((mask * 255).astype(np.uint8)).transform(
        mask.shape[::-1], Image.AFFINE, (1, 0, -rng.uniform(2, 8), 0, 1, -rng.uniform(2, 8))
    )
    return np.asarray(shifted.filter(ImageFilter.GaussianBlur(rng.uniform(2, 5))), np.float32) / 255


def _texture(rng: np.random.Generator, size: int, colour: np.ndarray) -> np.ndarray:
    """A surface of `colour` with blotches (a coarse random grid, smoothly upsampled) and fine grain."""
    surface = np.zeros((size, size, 3), np.float32) + colour
    for cells, strength in ((rng.integers(3, 7), 28), (size // 4, 10)):
        grid = rng.normal(0, strength, (cells, cells, 3)).astype(np.float32)
        for channel in range(3):
            surface[..., channel] += np.asarray(Image.fromarray(grid[..., channel]).resize((size, size), Image.BICUBIC))
    return np.clip(surface, 0, 255)


def _gradient(rng: np.random.Generator, size: int, low: float, high: float) -> np.ndarray:
    """Brightness falling off linearly across the image in a random direction, from `high` to `low`."""
    angle = rng.uniform(0, 2 * math.pi)
    ys, xs = np.mgrid[0:size, 0:size] / size - 0.5
    ramp = xs * math.cos(angle) + ys * math.sin(angle)  # -0.71 ... 0.71
    return low + (high - low) * (ramp - ramp.min()) / (ramp.max() - ramp.min())


def _mask(shape: str, rng: np.random.Generator, size: int) -> np.ndarray:
    """The shape's coverage of each pixel, 0-1, drawn at 4x and downsampled for smooth edges."""
    big = size * 4
    radius = big * rng.uniform(0.2, 0.36)
    cx, cy = (rng.uniform(radius, big - radius) for _ in range(2))
    angle = rng.uniform(0, 2 * math.pi)
    image = Image.new("L", (big, big))
    draw = ImageDraw.Draw(image)
    if shape == "circle":
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=255)
    else:
        corners = {"square": 4, "triangle": 3, "star": 10}[shape]
        points = []
        for k in range(corners):
            r = radius * (0.45 if shape == "star" and k % 2 else 1.0)
            theta = angle + 2 * math.pi * k / corners
            points.append((cx + r * math.cos(theta), cy + r * math.sin(theta)))
        draw.polygon(points, fill=255)
    return np.asarray(image.resize((size, size), Image.BOX), np.float32) / 255


def _reset(out: Path) -> None:
    if out.exists():
        if not (out / MARKER).exists():
            from edge.runtime import EdgeError

            raise EdgeError(f"{out} exists and was not made by edge demo; pass another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).touch()

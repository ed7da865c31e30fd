"""`edge infer`: classify files and folders, or a camera's or video's frames, for people or (JSON lines) programs."""

from __future__ import annotations

import glob
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from edge.runtime import Classifier, EdgeError, ImageError
from edge.runtime.console import make_console
from edge.runtime.preprocess import IMAGE_EXTENSIONS, image_files


def command(
    model: Annotated[
        Path,
        typer.Argument(
            help="An exported model (.tflite or .onnx). Its edge.json (beside it, or in its run directory) is used "
            "when found; otherwise the labels and input contract the model file carries."
        ),
    ],
    images: Annotated[
        list[Path] | None, typer.Argument(help="Image files or directories of images.", show_default=False)
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            help="Classify frames instead of files: a camera (0, /dev/video0), a video file, a stream "
            "(rtsp://...) or picamera (Raspberry Pi camera). Needs the video extra (OpenCV).",
            show_default=False,
        ),
    ] = None,
    every: Annotated[int, typer.Option(help="--source: classify every N-th frame.")] = 1,
    max_fps: Annotated[
        float | None,
        typer.Option(help="--source: classify at most this many frames a second, drop the rest.", show_default=False),
    ] = None,
    top_k: Annotated[int, typer.Option(help="Labels to show per image.")] = 3,
    threads: Annotated[
        int | None,
        typer.Option(
            help="Inference threads, and threads decoding the next images \\[default: all cores].",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per image on stdout.")] = False,
    verify: Annotated[bool, typer.Option(help="Check the model's sha256 against edge.json.")] = True,
) -> None:
    """Classify images, or a camera's or video's frames, with an exported model, using the preprocessing it was
    trained with. With --source, one line per frame (--json: frame, top_k, latency_ms); the video's end or
    Ctrl-C stops with a summary.

    Example: edge infer runs/latest/export/model_int8.tflite photo.jpg --top-k 3

    Example: edge infer model_int8.tflite --source 0 --max-fps 5
    """
    if bool(images) == bool(source):
        raise EdgeError("give image files or --source, not both and not neither (see edge infer --help)")
    if every < 1 or (max_fps is not None and max_fps <= 0):
        raise EdgeError("--every must be at least 1 and --max-fps above 0")
    if source:
        raise typer.Exit(run_stream(model, source, top_k=top_k, threads=threads, as_json=as_json, verify=verify,
                                    every=every, max_fps=max_fps))  # fmt: skip
    raise typer.Exit(run_infer(model, images, top_k=top_k, threads=threads, as_json=as_json, verify=verify))


def run_infer(model: Path, images: list[Path], *, top_k: int, threads: int | None, as_json: bool, verify: bool) -> int:
    """Classify every image; return the exit code (1 when some images failed).

    A single unreadable image is a usage error (raised); among several, each failure is reported on its own
    and the rest are still classified.
    """
    classifier = Classifier(model, threads=threads, verify=verify)
    files = expand_images(images)
    if len(files) == 1:
        rows = [(files[0], classifier.predict(files[0], top_k), None)]
    else:
        results = classifier.predict_each(files, top_k, workers=threads)
        rows = (_row(path, result) for path, result in zip(files, results, strict=True))
    table = Table(box=None, pad_edge=False)
    table.add_column("image", overflow="fold")
    for rank in range(1, top_k + 1):
        table.add_column(f"top-{rank}", no_wrap=True)
    failures = 0
    for path, predictions, error in rows:
        failures += error is not None
        if as_json:
            payload = (
                {"image": str(path), "error": error}
                if error
                else {
                    "image": str(path),
                    "top_k": [asdict(p) for p in predictions],
                }
            )
            print(json.dumps(payload, ensure_ascii=False), flush=True)
        elif error:
            print(f"error: {path}: {error}", file=sys.stderr)
        else:
            table.add_row(str(path), *(f"{p.label} {p.score:.3f}" for p in predictions))
    if not as_json and table.row_count:
        make_console().print(table)
    return 1 if failures else 0


def run_stream(
    model: Path,
    source: str,
    *,
    top_k: int,
    threads: int | None,
    as_json: bool,
    verify: bool,
    every: int,
    max_fps: float | None,
) -> int:
    """Classify a camera's, video file's or stream's frames as they come, one line each (rewritten in place on a
    terminal); the source's end or Ctrl-C stops, with a summary. Return the exit code (1: no frame read)."""
    from edge.runtime.video import frames  # OpenCV loads only for --source

    classifier = Classifier(model, threads=threads, verify=verify)
    live = not as_json and sys.stdout.isatty()
    started, count = time.perf_counter(), 0
    try:
        for frame in frames(source, every=every, max_fps=max_fps):
            invoked = time.perf_counter()
            predictions = classifier.predict(frame.pixels, top_k)
            latency_ms = 1e3 * (time.perf_counter() - invoked)
            count += 1
            if as_json:
                payload = {"frame": frame.index, "top_k": [asdict(p) for p in predictions],
                           "latency_ms": round(latency_ms, 3)}  # fmt: skip
                print(json.dumps(payload, ensure_ascii=False), flush=True)
                continue
            scores = "  ".join(f"{p.label} {p.score:.3f}" for p in predictions)
            line = f"frame {frame.index}  {scores}  {latency_ms:.1f} ms"
            print(f"\r{line}\x1b[K" if live else line, end="" if live else "\n", flush=True)
    except KeyboardInterrupt:
        pass
    elapsed = time.perf_counter() - started
    if live:
        print()
    if not count:
        print(f"error: --source {source}: no frames", file=sys.stderr)
        return 1
    print(f"{count} frames classified in {elapsed:.1f} s ({count / elapsed:.1f} fps)", file=sys.stderr)
    return 0


def expand_images(paths: list[Path]) -> list[Path]:
    """Files as given; directories replaced by the image files in them (sorted, recursively); glob patterns the
    shell did not expand (quoted, or on Windows) replaced by the files they match."""
    files = []
    for path in paths:
        if not path.exists() and glob.has_magic(str(path)):
            matches = sorted(Path(match) for match in glob.glob(str(path), recursive=True))
            if not matches:
                raise ImageError(f"{path}: no files match this pattern")
            files.extend(expand_images(matches))
        elif path.is_dir():
            found = image_files(path)
            if not found:
                raise ImageError(f"{path}: directory has no image files ({', '.join(sorted(IMAGE_EXTENSIONS))})")
            files.extend(found)
        else:
            files.append(path)
    return files


def _row(path: Path, result):
    if isinstance(result, ImageError):
        return path, None, str(result).removeprefix(f"{path}: ")
    return path, result, None

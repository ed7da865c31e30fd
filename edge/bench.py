"""`edge bench`: edge.runtime.bench's measurements of exported models, as a table or JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from edge.runtime import EdgeError
from edge.runtime.bench import bench as run_bench
from edge.runtime.bench import rows_as_json
from edge.runtime.console import make_console


def command(
    models: Annotated[list[Path], typer.Argument(help="Exported models (.tflite, .onnx) with their edge.json.")],
    data: Annotated[
        Path | None,
        typer.Option(
            help="Images for end-to-end latency: a file, a folder, or DIR/<class>/* for accuracy too "
            "\\[default: a generated 640x480 JPEG].",
            show_default=False,
        ),
    ] = None,
    runs: Annotated[int, typer.Option(help="Timed invocations per model (and end-to-end runs, at least).")] = 100,
    warmup: Annotated[int, typer.Option(help="Untimed invocations first.")] = 10,
    threads: Annotated[
        int | None, typer.Option(help="Inference threads \\[default: all cores].", show_default=False)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON list of rows instead of the table.")] = False,
) -> None:
    """Size, latency (invoke p50/p95, end-to-end p50), peak memory and accuracy of exported models.

    Each model runs in a fresh process, batch 1, after warm-up, through the runtime a device uses.

    Example: edge bench runs/latest/export/*.tflite runs/latest/export/*.onnx --data data/validation
    """
    if runs < 1 or warmup < 0:
        raise EdgeError("--runs must be at least 1 and --warmup 0 or more")
    rows = run_bench(models, data, runs=runs, warmup=warmup, threads=threads)
    if as_json:
        print(json.dumps(rows_as_json(rows), indent=2))
        return
    table = Table("model", "format", "precision", "MB", "p50 ms", "p95 ms", "e2e p50 ms", "peak RSS MB",
                  "accuracy", box=None, pad_edge=False)  # fmt: skip
    for row in rows:
        times = (f"{ms:.2f}" for ms in (row.latency_ms_p50, row.latency_ms_p95, row.e2e_ms_p50))
        accuracy = "-" if row.accuracy is None else f"{row.accuracy:.4f}"
        table.add_row(row.model, row.format, row.precision, f"{row.size_mb:.2f}", *times, f"{row.peak_rss_mb:.0f}",
                      accuracy)  # fmt: skip
    make_console().print(table)

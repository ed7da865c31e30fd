"""`edge serve`: the HTTP server of edge.runtime.serve, started from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edge.runtime import EdgeError
from edge.runtime.serve import log_to_stderr
from edge.runtime.serve import serve as run_server


def command(
    model: Annotated[Path, typer.Argument(help="An exported model (.tflite or .onnx), as for edge infer.")],
    host: Annotated[str, typer.Option(help="Address to listen on; 0.0.0.0 for every network interface.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0: any free port, printed at start).")] = 8080,
    workers: Annotated[
        int, typer.Option(help="Copies of the model answering at once; more only help with more cores than threads.")
    ] = 1,
    threads: Annotated[
        int | None, typer.Option(help="Inference threads per copy \\[default: all cores].", show_default=False)
    ] = None,
    max_bytes: Annotated[int, typer.Option(help="Largest upload accepted; larger ones get 413.")] = 20_000_000,
    verify: Annotated[bool, typer.Option(help="Check the model's sha256 against edge.json.")] = True,
) -> None:
    """Classify images sent over HTTP; one access-log line per request on stderr; SIGTERM or Ctrl-C stops.

    POST /classify?top_k=3 (the image file as the body): what edge infer --json prints for it, plus latency_ms.

    GET /health: the model, its labels and input contract. Bad uploads get a 4xx with {"error": ...}.

    Example: edge serve runs/latest/export/model_int8.tflite --host 0.0.0.0

    Then: curl --data-binary @photo.jpg localhost:8080/classify
    """
    if workers < 1 or max_bytes < 1 or not 0 <= port <= 65535:
        raise EdgeError("--workers and --max-bytes must be at least 1, --port from 0 to 65535")
    answered = run_server(model, host=host, port=port, workers=workers, threads=threads, max_bytes=max_bytes,
                          verify=verify, announce=log_to_stderr, log=log_to_stderr)  # fmt: skip
    log_to_stderr(f"stopped after {answered} request{'' if answered == 1 else 's'}")

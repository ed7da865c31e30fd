"""The `edge` command: a thin typer layer over edge.train, edge.export and edge.runtime.

Training and export import TensorFlow only inside their commands, so `edge --help` and `edge infer` start fast
and work on a runtime-only install.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from edge import __version__
from edge.config import ExportConfig, Thresholds, TrainConfig
from edge.options import with_options
from edge.runtime import EdgeError
from edge.runtime.console import make_console

app = typer.Typer(
    help="From a folder of labelled photos to an int8 image classifier on a Raspberry Pi-class CPU.\n\n"
    "edge train DATA_DIR  ->  edge export runs/latest --int8  ->  edge infer MODEL IMAGE...",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _training_modules(command: str):
    """Import edge.train and edge.export, turning a runtime-only install into a one-line hint."""
    from edge.extras import training_extra

    with training_extra(f"edge {command}"):
        import edge.export
        import edge.train.trainer
    return edge.train, edge.export


@app.command()
@with_options(TrainConfig)
def train(
    config: TrainConfig,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume", help="Continue the interrupted run that was writing --out from its last finished epoch."
        ),
    ] = False,
) -> None:
    """Fine-tune an ImageNet backbone on DATA_DIR and write a run directory (model.keras, edge.json, metrics,
    config.yaml).

    Example: edge train data/flowers --alpha 0.35 --image-size 128 --out runs/flowers

    Example: edge train --config runs/flowers/config.yaml --seed 1   (the same run, another seed)
    """
    training, _ = _training_modules("train")
    training.train(config, resume=resume)


@app.command()
@with_options(ExportConfig)
def export(config: ExportConfig) -> None:
    """Convert a run to TFLite and ONNX (float32; int8 with --int8) and gate on parity with Keras.

    Every artifact is measured on the validation split through the runtime and recorded in edge.json; the
    export exits 1 when one breaches the default parity thresholds (see edge parity). The options used go to
    export/config.yaml.

    Example: edge export runs/latest --int8
    """
    _, exporting = _training_modules("export")
    exporting.export(config)


@app.command()
@with_options(Thresholds)
def parity(
    thresholds: Thresholds,
    run_dir: Annotated[Path, typer.Argument(help="An exported run directory, e.g. runs/latest.")],
    data: Annotated[
        Path | None,
        typer.Option(
            help="DIR/<class>/* images to measure on \\[default: the run's validation split].", show_default=False
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON on stdout.")] = False,
) -> None:
    """Measure every artifact of a run against its Keras model; exit 1 on a breach.

    Same images for all (the validation split, or --data), every artifact through the runtime as a device runs
    it. Writes export/parity.json.

    Example: edge parity runs/latest --data data/test
    """
    _, exporting = _training_modules("parity")
    report = exporting.run_parity(run_dir, data, thresholds)
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        exporting.print_parity(make_console(), report)
    if not report["passed"]:
        print(exporting.breach_summary(report), file=sys.stderr)
        raise typer.Exit(EXIT_FAILED)


@app.command("eval")
def evaluate(
    model: Annotated[Path, typer.Argument(help="model.keras of a run, or an exported .tflite/.onnx model.")],
    data_dir: Annotated[Path, typer.Argument(help="DATA_DIR/<class>/* images, class names as in the model.")],
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON on stdout.")] = False,
    plot: Annotated[
        Path | None, typer.Option(help="Also draw the confusion matrix to this PNG file.", show_default=False)
    ] = None,
    threads: Annotated[
        int | None, typer.Option(help="Inference threads \\[default: all cores].", show_default=False)
    ] = None,
) -> None:
    """Accuracy, balanced accuracy, per-class precision/recall/F1 and the confusion matrix of any model.

    Example: edge eval runs/latest/export/model_int8.tflite data/test --plot confusion.png
    """
    from edge.evaluate import run_eval

    run_eval(model, data_dir, as_json=as_json, plot=plot, threads=threads)


@app.command()
def infer(
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
    from edge.infer import run_infer, run_stream

    if bool(images) == bool(source):
        raise EdgeError("give image files or --source, not both and not neither (see edge infer --help)")
    if every < 1 or (max_fps is not None and max_fps <= 0):
        raise EdgeError("--every must be at least 1 and --max-fps above 0")
    if source:
        raise typer.Exit(run_stream(model, source, top_k=top_k, threads=threads, as_json=as_json, verify=verify,
                                    every=every, max_fps=max_fps))  # fmt: skip
    raise typer.Exit(run_infer(model, images, top_k=top_k, threads=threads, as_json=as_json, verify=verify))


@app.command()
def serve(
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
    from edge.runtime.serve import log_to_stderr
    from edge.runtime.serve import serve as run_server

    if workers < 1 or max_bytes < 1 or not 0 <= port <= 65535:
        raise EdgeError("--workers and --max-bytes must be at least 1, --port from 0 to 65535")
    answered = run_server(model, host=host, port=port, workers=workers, threads=threads, max_bytes=max_bytes,
                          verify=verify, announce=log_to_stderr, log=log_to_stderr)  # fmt: skip
    log_to_stderr(f"stopped after {answered} request{'' if answered == 1 else 's'}")


@app.command()
def bench(
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
    from edge.runtime.bench import bench as run_bench
    from edge.runtime.bench import rows_as_json

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


@app.command()
def demo(
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
    _training_modules("demo")
    from edge.demo import run_demo

    run_demo(out, weights)


def _version(value: bool) -> None:
    if value:
        print(f"edge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    pass


def main() -> None:
    """Console entry point: user mistakes become one line on stderr and exit code 2, never a traceback."""
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as error:  # a bad flag or argument, as typer (and its click) report it
        context = getattr(error, "ctx", None)
        command = context.command_path if context else "edge"
        message = error.format_message() if hasattr(error, "format_message") else error  # names the option
        print(f"{command}: {message} (see {command} --help)", file=sys.stderr)
        code = getattr(error, "exit_code", EXIT_USAGE)
    except EdgeError as error:
        print(f"error: {error}", file=sys.stderr)
        code = getattr(error, "exit_code", EXIT_USAGE)
    except (KeyboardInterrupt, typer.Abort):
        print("interrupted", file=sys.stderr)
        code = 130
    sys.exit(code or EXIT_OK)

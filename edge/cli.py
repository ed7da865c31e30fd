"""The `edge` command: the training-side commands, whose options are the config dataclasses', and the
device-side ones each declared in its own module (edge.infer, edge.evaluate, edge.serve, edge.bench, edge.demo).

Training and export import TensorFlow only inside their commands, so `edge --help` and `edge infer` start fast
and work on a runtime-only install.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from edge import __version__, bench, demo, evaluate, infer, serve
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


# The device-side commands and the demo: each module declares its command's options and renders its output.
app.command("eval")(evaluate.command)
app.command("infer")(infer.command)
app.command("serve")(serve.command)
app.command("bench")(bench.command)
app.command("demo")(demo.command)


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

"""The `edge` command: a thin typer layer over edge.train, edge.export and edge.runtime.

Training and export import TensorFlow only inside their commands, so `edge --help` and `edge infer` start fast
and work on a runtime-only install.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from edge import __version__
from edge.runtime import EdgeError

app = typer.Typer(
    help="From a folder of labelled photos to an int8 image classifier on a Raspberry Pi-class CPU.\n\n"
    "edge train DATA_DIR  ->  edge export runs/latest --int8  ->  edge infer MODEL IMAGE...",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
TRAIN_EXTRA_HINT = "edge {command} needs TensorFlow: install the training extra, e.g. pip install 'edge[train]'"


def _training_modules(command: str):
    """Import edge.train and edge.export, turning a runtime-only install into a one-line hint."""
    try:
        import edge.export
        import edge.train
    except ModuleNotFoundError as error:
        if error.name and error.name.split(".")[0] in {
            "tensorflow",
            "tf_keras",
            "tensorflow_model_optimization",
            "tf2onnx",
            "onnx",
        }:
            raise EdgeError(TRAIN_EXTRA_HINT.format(command=command)) from None
        raise
    return edge.train, edge.export


@app.command()
def train(
    data_dir: Annotated[Path, typer.Argument(help="DATA_DIR/<class>/*.jpg, or DATA_DIR/{train,validation}/<class>/*")],
    model: Annotated[str, typer.Option(help="Backbone.")] = "mobilenet_v2",
    alpha: Annotated[float, typer.Option(help="Width multiplier: 0.35, 0.5, 0.75, 1.0, 1.3 or 1.4.")] = 1.0,
    image_size: Annotated[int, typer.Option(help="Square input size in pixels, 96-224.")] = 224,
    weights: Annotated[
        str, typer.Option(help="imagenet (Keras's cache or download), none, or a weights file.")
    ] = "imagenet",
    epochs: Annotated[int, typer.Option(help="Phase 1 epochs: frozen backbone, new head.")] = 10,
    lr: Annotated[float, typer.Option(help="Phase 1 learning rate.")] = 1e-3,
    fine_tune_epochs: Annotated[int, typer.Option(help="Phase 2 epochs: top of the backbone unfrozen (0: skip).")] = 10,
    fine_tune_lr: Annotated[float, typer.Option(help="Phase 2 learning rate.")] = 1e-5,
    fine_tune_at: Annotated[
        str | None,
        typer.Option(  # noqa: UP007 - typer needs Optional on Python 3.10
            help="First backbone layer unfrozen in phase 2, by name or index [default: the backbone's, ~top 30%].",
            show_default=False,
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Images per training step.")] = 32,
    val_split: Annotated[
        float, typer.Option(help="Validation share per class when there is no validation/ folder.")
    ] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of the split, initialisation and shuffling.")] = 42,
    dropout: Annotated[float, typer.Option(help="Dropout before the classification layer.")] = 0.2,
    patience: Annotated[int, typer.Option(help="Early-stopping patience (epochs) on validation loss.")] = 3,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Run directory [default: runs/<timestamp>].",  # noqa: UP007
            show_default=False,
        ),
    ] = None,
) -> None:
    """Fine-tune an ImageNet backbone on DATA_DIR and write a run directory (model.keras, edge.json, metrics).

    Example: edge train data/flowers --alpha 0.35 --image-size 128 --out runs/flowers
    """
    training, _ = _training_modules("train")
    config = training.TrainConfig(
        data_dir=data_dir,
        out=out,
        model=model,
        alpha=alpha,
        image_size=image_size,
        weights=weights,
        epochs=epochs,
        lr=lr,
        fine_tune_epochs=fine_tune_epochs,
        fine_tune_lr=fine_tune_lr,
        fine_tune_at=fine_tune_at,
        batch_size=batch_size,
        val_split=val_split,
        seed=seed,
        dropout=dropout,
        patience=patience,
    )
    training.train(config)


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run directory made by edge train, e.g. runs/latest.")],
    int8: Annotated[
        bool, typer.Option("--int8", help="Also write an int8 TFLite (quantization-aware training).")
    ] = False,
    ptq: Annotated[
        bool,
        typer.Option(
            "--ptq",
            help="Make the int8 model by post-training quantization instead "
            "of quantization-aware training (implies --int8).",
        ),
    ] = False,
    qat_epochs: Annotated[int, typer.Option(help="Quantization-aware fine-tuning epochs.")] = 2,
    qat_lr: Annotated[float, typer.Option(help="Quantization-aware fine-tuning learning rate.")] = 1e-5,
    calibration_images: Annotated[int, typer.Option(help="Training images used to calibrate int8 ranges.")] = 256,
    batch_size: Annotated[int, typer.Option(help="Images per quantization-aware training step.")] = 32,
) -> None:
    """Convert a run's Keras model to TFLite (float32, and int8 with --int8) and measure each artifact.

    Example: edge export runs/latest --int8
    """
    _, exporting = _training_modules("export")
    config = exporting.ExportConfig(
        run_dir=run_dir,
        int8=int8,
        ptq=ptq,
        qat_epochs=qat_epochs,
        qat_lr=qat_lr,
        calibration_images=calibration_images,
        batch_size=batch_size,
    )
    exporting.export(config)


@app.command()
def infer(
    model: Annotated[
        Path, typer.Argument(help="An exported model (.tflite) with its edge.json beside it or in its run directory.")
    ],
    images: Annotated[list[Path], typer.Argument(help="Image files or directories of images.")],
    top_k: Annotated[int, typer.Option(help="Labels to show per image.")] = 3,
    threads: Annotated[
        int | None,
        typer.Option(
            help="Inference threads [default: all cores].",  # noqa: UP007
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per image on stdout.")] = False,
    verify: Annotated[bool, typer.Option(help="Check the model's sha256 against edge.json.")] = True,
) -> None:
    """Classify images with an exported model, using the preprocessing it was trained with.

    Example: edge infer runs/latest/export/model_int8.tflite photo.jpg --top-k 3
    """
    from edge.infer import run_infer

    raise typer.Exit(run_infer(model, images, top_k=top_k, threads=threads, as_json=as_json, verify=verify))


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Where the generated dataset and the run go.")] = Path("runs/demo"),
    weights: Annotated[
        str,
        typer.Option(
            help="imagenet, none or a weights file; without ImageNet weights "
            "the demo says so and starts from random weights."
        ),
    ] = "imagenet",
) -> None:
    """Run the whole job offline on a generated shapes dataset: train, export --int8, infer."""
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
        print(f"{command}: {error} (see {command} --help)", file=sys.stderr)
        code = getattr(error, "exit_code", EXIT_USAGE)
    except EdgeError as error:
        print(f"error: {error}", file=sys.stderr)
        code = EXIT_USAGE
    except (KeyboardInterrupt, typer.Abort):
        print("interrupted", file=sys.stderr)
        code = 130
    sys.exit(code or EXIT_OK)

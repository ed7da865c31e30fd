"""`edge eval`: classification metrics of any model (Keras or exported) on a labelled folder, through the runtime."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from edge.extras import training_extra
from edge.report import confusion_png, per_class_table
from edge.runtime import Classifier, EdgeError
from edge.runtime.console import make_console
from edge.runtime.datasets import load_labelled
from edge.runtime.files import atomic_write_bytes
from edge.runtime.metrics import classification_report


def command(
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
    run_eval(model, data_dir, as_json=as_json, plot=plot, threads=threads)


def run_eval(model: Path, data_dir: Path, *, as_json: bool, plot: Path | None, threads: int | None) -> None:
    """Print (and optionally plot) the metrics of `model` on every image of DATA_DIR/<class>/*."""
    labels, size, predict = _predictor(model, threads)
    images, skipped = load_labelled(data_dir, size, labels)
    report = classification_report(predict(images.x), images.y, labels)
    report = {"model": str(model), "data": str(data_dir), "skipped": [vars(s) for s in skipped], **report}
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        _print(report, labels)
    if plot is not None:
        atomic_write_bytes(plot, confusion_png(report, labels, Path(model).name))


def _predictor(model: Path, threads: int | None):
    """Labels, input size and a batch -> probabilities function for a Keras or an exported model."""
    if model.suffix == ".keras":  # the float model needs TensorFlow; exported models only the runtime
        with training_extra("edge eval of a .keras model (an exported .tflite or .onnx needs only the runtime)"):
            from edge.train.run import open_run

        if not model.is_file():
            raise EdgeError(f"{model}: no such model file")
        manifest, keras_model = open_run(model.parent)
        return manifest.labels, manifest.input_size[0], lambda x: keras_model.predict(x, batch_size=32, verbose=0)
    classifier = Classifier(model, threads=threads)
    return classifier.labels, classifier.input_size[0], lambda x: np.stack([classifier.probabilities(i) for i in x])


def _print(report: dict, labels: list[str]) -> None:
    console = make_console()
    console.print(
        f"{report['model']} on {report['data']}: accuracy {report['accuracy']:.4f}, balanced accuracy "
        f"{report['balanced_accuracy']:.4f}, n={report['n']}" + (f", {len(report['skipped'])} unreadable skipped"
                                                                 if report["skipped"] else "")
    )  # fmt: skip
    console.print(per_class_table("class", report["per_class"].items()))
    confusion = Table("true \\ predicted", *labels, box=None, pad_edge=False)
    for label, counts in zip(labels, report["confusion_matrix"], strict=True):
        confusion.add_row(label, *map(str, counts))
    console.print(confusion)

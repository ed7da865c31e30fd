"""`edge train` with its defaults against the Keras transfer-learning recipe run as written, on the same split.

    python benchmarks/recipe.py --weights PATH ../shared/data/clothing_small [-- --edge-option value ...]

The recipe (keras.io/guides/transfer_learning, as in benchmarks/phase1.py): flip and rotation augmentation,
`preprocess_input`, the frozen MobileNetV2 called with training=False, dropout 0.3, a new softmax layer;
5 epochs at Adam 1e-3, then the base's layers from index 100 on unfrozen and 5 more epochs at 1e-5.
edge: `edge train DATA --weights PATH` plus any extra options given after `--`. Both are scored on the same
held-out validation images; the table gives accuracy, balanced accuracy and wall time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from phase1 import keras_recipe

from edge.runtime.datasets import load_dataset
from edge.runtime.metrics import classification_report
from edge.train.legacy_keras import keras
from edge.train.run import open_run

RECIPE_EPOCHS, RECIPE_FINE_TUNE_FROM = 5, 100


def run_recipe(data, weights: Path, alpha: float, size: int) -> tuple[np.ndarray, float]:
    """Validation probabilities, and the seconds of phase 1 (frozen base)."""
    keras.utils.set_random_seed(0)
    model = keras_recipe(len(data.labels), size, alpha, weights)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", ["accuracy"])
    validation = (data.validation.x, data.validation.y)
    started = time.perf_counter()
    model.fit(data.train.x, data.train.y, validation_data=validation, epochs=RECIPE_EPOCHS, verbose=2)
    phase1 = time.perf_counter() - started
    base = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    base.trainable = True
    for layer in base.layers[:RECIPE_FINE_TUNE_FROM]:
        layer.trainable = False
    model.compile(keras.optimizers.Adam(1e-5), "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(data.train.x, data.train.y, validation_data=validation, epochs=2 * RECIPE_EPOCHS,
              initial_epoch=RECIPE_EPOCHS, verbose=2)  # fmt: skip
    return model.predict(data.validation.x, verbose=0), phase1


def run_edge(data_dir: Path, weights: Path, options: list[str], keep: Path | None) -> tuple[np.ndarray, float]:
    """Validation probabilities, and the seconds of phase 1 (features and head) from the run's metrics.json."""
    with tempfile.TemporaryDirectory() as root:
        out = keep or Path(root) / "run"
        command = [sys.executable, "-m", "edge", "train", str(data_dir), "--weights", str(weights), "--out", str(out)]
        subprocess.run([*command, *options], check=True)
        _, model = open_run(out)
        seconds = json.loads((out / "metrics.json").read_text())["train_seconds"]
        data = load_dataset(data_dir, model.input_shape[1], val_split=0.2, seed=42)
        return model.predict(data.validation.x, verbose=0), seconds["features"] + seconds["frozen"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--weights", type=Path, required=True, help="MobileNetV2 alpha 1.0 no-top ImageNet .h5")
    parser.add_argument("--keep", type=Path, help="write edge's run here instead of a temporary folder")
    parser.add_argument("--skip-recipe", action="store_true", help="only run edge (the recipe's numbers are known)")
    parser.add_argument("edge_options", nargs=argparse.REMAINDER, help="extra edge train options, after --")
    args = parser.parse_args()
    args.edge_options = [option for option in args.edge_options if option != "--"]
    data = load_dataset(args.data, 224, val_split=0.2, seed=42)
    runs = {}
    if not args.skip_recipe:
        started = time.perf_counter()
        runs["keras recipe (5 + 5 epochs)"] = *run_recipe(data, args.weights, 1.0, 224), time.perf_counter() - started
    started = time.perf_counter()
    name = " ".join(["edge train", *args.edge_options]) if args.edge_options else "edge train (defaults)"
    runs[name] = *run_edge(args.data, args.weights, args.edge_options, args.keep), time.perf_counter() - started

    print(f"{args.data}: {len(data.train)} training, {len(data.validation)} validation images")
    print(f"{'':<40}{'accuracy':>10}{'balanced':>10}{'phase 1 s':>10}{'total s':>10}")
    for name, (probabilities, phase1, seconds) in runs.items():
        report = classification_report(probabilities, data.validation.y, data.labels)
        print(
            f"{name:<40}{report['accuracy']:>10.4f}{report['balanced_accuracy']:>10.4f}{phase1:>10.0f}{seconds:>10.0f}"
        )


if __name__ == "__main__":
    main()

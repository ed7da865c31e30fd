"""Which phase-1 options make the best head: each variant trains on the same cached backbone features, through
edge's own training step (`edge.train.trainer._fit`), and is scored on the held-out validation folder.

    python benchmarks/head_options.py ../shared/data/clothing_small --weights PATH [--alpha 1.0] [--augment]
    python benchmarks/head_options.py ../shared/data/clothing_small --weights PATH --copies

Each variant is run with three seeds; the table gives the median validation accuracy and loss. With `--copies`,
the variants are instead the cached training set: the originals and 0-2 augmented copies (edge caches
AUGMENTED_COPIES), each head trained with edge's defaults. The numbers behind `edge train`'s defaults are kept
in benchmarks/results/.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console

from edge.config import TrainConfig
from edge.runtime.datasets import load_dataset
from edge.train.augment import augmentation
from edge.train.backbones import get_backbone
from edge.train.checkpoints import Checkpoints
from edge.train.features import AUGMENTED_COPIES, feature_extractor, head_model
from edge.train.legacy_keras import keras
from edge.train.model import build_classifier, freeze_backbone
from edge.train.trainer import _batches, _fit
from edge.train.weights import Weights

VARIANTS = {
    "baseline (dropout 0.2)": {},
    "dropout 0.3": {"dropout": 0.3},
    "label smoothing 0.1": {"label_smoothing": 0.1},
    "L2 1e-4": {"l2": 1e-4},
    "L2 1e-3": {"l2": 1e-3},
    "cosine": {"schedule": "cosine"},
    "plateau": {"schedule": "plateau"},
    "class weights auto": {"class_weights": "auto"},
    "smoothing 0.1 + cosine": {"label_smoothing": 0.1, "schedule": "cosine"},
    "smoothing 0.1 + cosine + L2 1e-4": {"label_smoothing": 0.1, "schedule": "cosine", "l2": 1e-4},
}
SEEDS = (0, 1, 2)
#: --copies: cached training set -> (with the originals, number of augmented copies)
TRAINING_SETS = {
    "originals only": (True, 0),
    "originals + 1 augmented copy": (True, 1),
    "originals + 2 augmented copies": (True, 2),
    "1 augmented copy, no originals": (False, 1),
    "2 augmented copies, no originals": (False, 2),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--augment", action="store_true", help="cache augmented copies, as edge train --augment")
    parser.add_argument("--copies", action="store_true", help="compare cached training sets instead of options")
    args = parser.parse_args()
    base = TrainConfig(args.data, alpha=args.alpha, image_size=args.image_size, augment=args.augment or args.copies)
    data = load_dataset(args.data, args.image_size, val_split=base.val_split, seed=base.seed)
    backbone = get_backbone("mobilenet_v2", args.alpha)
    classes = len(data.labels)

    started = time.perf_counter()
    model = build_classifier(backbone, classes, args.image_size, args.alpha, Weights(args.weights, "file"), 0.2)
    freeze_backbone(model)
    extract = feature_extractor(model, 32)
    originals, labels = extract(data.train.x), data.train.y
    augment = augmentation(0)  # one generator: each copy draws new transformations, as in edge train
    augmented = [extract(data.train.x, augment) for _ in range(2 if args.copies else AUGMENTED_COPIES * args.augment)]
    validation = extract(data.validation.x), data.validation.y
    print(f"features of {len(data.train)} + {len(data.validation)} images in {time.perf_counter() - started:.0f} s")

    def head_score(train: tuple[np.ndarray, np.ndarray], options: dict) -> tuple[float, float]:
        """Median validation (accuracy, loss) over SEEDS of a head trained with `options` on `train`."""
        scores = []
        for seed in SEEDS:
            config = dataclasses.replace(base, seed=seed, **options)
            keras.utils.set_random_seed(seed)
            trial = build_classifier(backbone, classes, args.image_size, args.alpha, Weights(None, "none"),
                                     config.dropout, config.l2)  # fmt: skip
            head = head_model(trial)
            batches = (
                (_batches(*train, classes, config, shuffle=True), train[1]),
                _batches(*validation, classes, config),
            )
            with tempfile.TemporaryDirectory() as staging:
                _fit(Console(quiet=True), head, "frozen", config.lr, config.epochs, *batches, config,
                     Checkpoints(Path(staging)))  # fmt: skip
            head.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
            scores.append(head.evaluate(*validation, verbose=0))
        loss, accuracy = (statistics.median(values) for values in zip(*scores, strict=True))
        return accuracy, loss

    if args.copies:
        trials = {name: ([originals] * with_originals + augmented[:copies], {})
                  for name, (with_originals, copies) in TRAINING_SETS.items()}  # fmt: skip
    else:
        trials = {name: ([originals, *augmented], options) for name, options in VARIANTS.items()}
    print(f"{'variant':<36}{'val accuracy':>14}{'val loss':>10}   (median of seeds {SEEDS})")
    for name, (features, options) in trials.items():
        train = np.concatenate(features), np.tile(labels, len(features))
        accuracy, loss = head_score(train, options)
        print(f"{name:<36}{accuracy:>14.4f}{loss:>10.4f}", flush=True)


if __name__ == "__main__":
    main()

"""Which phase-1 options make the best head: each variant trains on the same cached backbone features, through
edge's own training step (`edge.train.trainer._fit`), and is scored on the held-out validation folder.

    python benchmarks/head_options.py ../shared/data/clothing_small --weights PATH [--alpha 1.0] [--augment]

Each variant is run with three seeds; the table gives the median validation accuracy and loss. The numbers
behind `edge train`'s defaults are kept in benchmarks/results/.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console

from edge.config import TrainConfig
from edge.runtime.datasets import load_dataset
from edge.train.augment import augmentation
from edge.train.backbones import get_backbone
from edge.train.checkpoints import Checkpoints
from edge.train.features import feature_extractor, head_model, training_features
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--augment", action="store_true", help="cache augmented copies, as edge train --augment")
    args = parser.parse_args()
    base = TrainConfig(args.data, alpha=args.alpha, image_size=args.image_size, augment=args.augment)
    data = load_dataset(args.data, args.image_size, val_split=base.val_split, seed=base.seed)
    backbone = get_backbone("mobilenet_v2", args.alpha)
    classes = len(data.labels)

    started = time.perf_counter()
    model = build_classifier(backbone, classes, args.image_size, args.alpha, Weights(args.weights, "file"), 0.2)
    freeze_backbone(model)
    extract = feature_extractor(model, 32)
    train = training_features(extract, data.train.x, data.train.y, augmentation(0) if args.augment else None)
    validation = extract(data.validation.x), data.validation.y
    print(f"features of {len(data.train)} + {len(data.validation)} images in {time.perf_counter() - started:.0f} s")

    quiet = Console(quiet=True)
    print(f"{'variant':<36}{'val accuracy':>14}{'val loss':>10}   (median of seeds {SEEDS})")
    for name, options in VARIANTS.items():
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
                _fit(quiet, head, "frozen", config.lr, config.epochs, *batches, config, Checkpoints(Path(staging)))
            head.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
            scores.append(head.evaluate(*validation, verbose=0))
        loss, accuracy = (statistics.median(values) for values in zip(*scores, strict=True))
        print(f"{name:<36}{accuracy:>14.4f}{loss:>10.4f}")


if __name__ == "__main__":
    main()

"""Phase 1 (frozen backbone, new head) wall time: edge's cached features against the Keras transfer-learning
recipe run as written, side by side in one process on the same images.

    python benchmarks/phase1.py DATA_DIR --weights PATH [--alpha 1.0] [--image-size 224] [--epochs 5]

The recipe (keras.io/guides/transfer_learning): flip and rotation augmentation and `preprocess_input` in the
model, the backbone nested and called with training=False, global pooling, dropout 0.3, a new softmax layer,
Adam 1e-3, every epoch a pass of every image through the backbone. edge computes each image's pooled backbone
output once (plus augmented copies with --augment) and trains its head on those. Medians are not needed here:
each side is minutes long; the ratio is what to quote.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from edge.runtime.datasets import load_dataset
from edge.train.augment import augmentation
from edge.train.backbones import get_backbone
from edge.train.features import AUGMENTED_COPIES, feature_extractor, head_model, training_features
from edge.train.legacy_keras import keras
from edge.train.model import build_classifier, freeze_backbone
from edge.train.weights import Weights


def keras_recipe(classes: int, size: int, alpha: float, weights: Path) -> keras.Model:
    base = keras.applications.MobileNetV2(
        input_shape=(size, size, 3), alpha=alpha, include_top=False, weights=str(weights)
    )
    base.trainable = False
    inputs = keras.Input((size, size, 3))
    x = keras.layers.RandomFlip("horizontal")(inputs)
    x = keras.layers.RandomRotation(0.1)(x)
    x = keras.applications.mobilenet_v2.preprocess_input(x)
    x = base(x, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.3)(x)
    return keras.Model(inputs, keras.layers.Dense(classes, activation="softmax")(x))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--weights", type=Path, required=True, help="MobileNetV2 no-top ImageNet .h5 of --alpha")
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--augment", action="store_true", help="edge side: cache augmented copies too")
    parser.add_argument("--copies", type=int, default=AUGMENTED_COPIES, help="augmented copies per image")
    args = parser.parse_args()
    data = load_dataset(args.data, args.image_size, val_split=0.2, seed=42)
    train, validation = (data.train.x, data.train.y), (data.validation.x, data.validation.y)
    results = {}

    keras.utils.set_random_seed(0)
    recipe = keras_recipe(len(data.labels), args.image_size, args.alpha, args.weights)
    recipe.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", ["accuracy"])
    started = time.perf_counter()
    recipe.fit(*train, validation_data=validation, batch_size=32, epochs=args.epochs, verbose=2)
    results["keras recipe"] = (time.perf_counter() - started, recipe.evaluate(*validation, verbose=0)[1])

    keras.utils.set_random_seed(0)
    backbone = get_backbone("mobilenet_v2", args.alpha)
    model = build_classifier(backbone, len(data.labels), args.image_size, args.alpha, Weights(args.weights, "x"), 0.2)
    freeze_backbone(model)
    started = time.perf_counter()
    extract = feature_extractor(model, 32)
    features = training_features(extract, *train, augmentation(0) if args.augment else None, args.copies)
    head = head_model(model)
    head.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", ["accuracy"])
    validation_features = extract(validation[0]), validation[1]
    head.fit(*features, validation_data=validation_features, batch_size=32, epochs=args.epochs, verbose=2)
    results["edge cached features"] = (time.perf_counter() - started, head.evaluate(*validation_features, verbose=0)[1])

    print(f"{args.data}: MobileNetV2 alpha {args.alpha} at {args.image_size}px, {len(data.train)} training and "
          f"{len(data.validation)} validation images, {args.epochs} frozen epochs")  # fmt: skip
    for name, (seconds, accuracy) in results.items():
        print(f"{name:<22}{seconds:>8.1f} s   validation accuracy {accuracy:.4f}")
    print(f"speed-up: {results['keras recipe'][0] / results['edge cached features'][0]:.1f}x")


if __name__ == "__main__":
    main()

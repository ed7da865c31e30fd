"""Two-phase transfer learning, as in the Keras guide: a new head on a frozen backbone, then the top of the
backbone fine-tuned at a low learning rate with BatchNorm kept in inference mode."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

from rich.console import Console

from edge.runtime import MANIFEST_NAME, Artifact, Manifest
from edge.runtime.console import make_console
from edge.runtime.files import atomic_write_bytes, atomic_write_text, sha256_file
from edge.runtime.metrics import classification_report
from edge.runtime.preprocess import RESIZE_POLICY

from .augment import augmentation, with_augmentation
from .backbones import get_backbone
from .config import TrainConfig
from .data import Dataset, balanced_class_weights, load_dataset
from .features import AUGMENTED_COPIES, head_model, pooled_features, training_features
from .legacy_keras import keras, tf
from .model import backbone_layers, build_classifier, fine_tune_layer_index, freeze_backbone, unfreeze_top
from .progress import keras_verbosity, progress_bar
from .report import confusion_png, curves_png, print_summary
from .run import LABELS_FILE, MODEL_FILE, point_latest, staged_directory
from .weights import resolve_weights


def train(config: TrainConfig, console: Console | None = None) -> Path:
    """Train a classifier on `config.data_dir` and write its run directory; return the directory."""
    console = console or make_console()
    backbone = get_backbone(config.model, config.alpha)
    config.image_size = config.image_size or backbone.default_size
    fine_tune_at = config.fine_tune_at or backbone.fine_tune_at
    out = config.out or Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    with staged_directory(out) as staging:
        with progress_bar(console, "Preparing images") as progress:
            dataset = load_dataset(
                config.data_dir, config.image_size, val_split=config.val_split, seed=config.seed, progress=progress
            )
        _report_dataset(console, dataset)
        weights = resolve_weights(config.weights, backbone, config.alpha, config.image_size, say=console.print)
        keras.utils.set_random_seed(config.seed)
        model = build_classifier(
            backbone, len(dataset.labels), config.image_size, config.alpha, weights, config.dropout
        )
        fine_tune_layer_index(backbone_layers(model), fine_tune_at)  # a bad --fine-tune-at fails before training
        console.print(
            f"{backbone.name} alpha {config.alpha} at {config.image_size}px, weights {weights.source}, "
            f"on {_device_name()}"
        )

        freeze_backbone(model)
        augment = augmentation(config.seed) if config.augment else None
        copies = f" and {AUGMENTED_COPIES} augmented copies of each" if augment else ""
        console.print(f"phase frozen: caching the backbone's features of every image{copies}")
        started = time.perf_counter()
        train = training_features(model, dataset.train.x, dataset.train.y, config.batch_size, augment)
        validation = (pooled_features(model, dataset.validation.x, config.batch_size), dataset.validation.y)
        feature_seconds = round(time.perf_counter() - started, 1)
        history = _fit(console, head_model(model), "frozen", config.lr, config.epochs, train, validation, config)
        if config.fine_tune_epochs:
            unfreeze_top(model, fine_tune_at)
            trainer = with_augmentation(model, config.seed) if config.augment else model
            images = (dataset.train.x, dataset.train.y), (dataset.validation.x, dataset.validation.y)
            history += _fit(
                console, trainer, "fine-tune", config.fine_tune_lr, config.fine_tune_epochs, *images, config
            )

        probabilities = model.predict(dataset.validation.x, batch_size=config.batch_size, verbose=0)
        metrics = {
            "validation": classification_report(probabilities, dataset.validation.y, dataset.labels),
            "train_seconds": {"features": feature_seconds} | {row["phase"]: row["phase_seconds"] for row in history},
            "skipped": [vars(entry) for entry in dataset.skipped],
        }
        model.save(staging / MODEL_FILE)
        manifest = Manifest(
            labels=dataset.labels,
            input={"height": config.image_size, "width": config.image_size, "channels": 3, "dtype": "uint8"}
            | RESIZE_POLICY,
            backbone={
                "name": backbone.name,
                "alpha": config.alpha,
                "weights": weights.source,
                "fine_tune_at": fine_tune_at,
            },
            data={
                "root": str(Path(config.data_dir).resolve()),
                "layout": dataset.layout,
                "val_split": config.val_split,
                "seed": config.seed,
                "train": len(dataset.train),
                "validation": len(dataset.validation),
                "skipped": len(dataset.skipped),
            },
            training=config.to_json(),
        )
        accuracy = metrics["validation"]["accuracy"]
        digest = sha256_file(staging / MODEL_FILE)
        manifest.record(Artifact(MODEL_FILE, "keras", "float32", "trained", digest, {"accuracy": accuracy}))
        manifest.save(staging / MANIFEST_NAME)
        atomic_write_text(staging / LABELS_FILE, "".join(f"{label}\n" for label in dataset.labels))
        atomic_write_text(staging / "metrics.json", json.dumps(metrics, indent=2) + "\n")
        atomic_write_text(staging / "history.csv", _csv(history))
        atomic_write_bytes(staging / "curves.png", curves_png(history))
        atomic_write_bytes(staging / "confusion_matrix.png", confusion_png(metrics["validation"], dataset.labels,
                                                                            "validation"))  # fmt: skip
    point_latest(out)
    print_summary(console, metrics["validation"], dataset.labels, dataset.skipped, metrics["train_seconds"])
    console.print(f"validation accuracy {accuracy:.4f} on {len(dataset.validation)} images; run written to {out}")
    return out


def _fit(console, model, phase: str, lr: float, epochs: int, train, validation, config: TrainConfig) -> list[dict]:
    """One phase: compile with `lr`, fit (x, y) `train` with early stopping on `validation`, return one history
    row per epoch."""
    trainable = sum(int(weight.shape.num_elements()) for weight in model.trainable_weights)
    console.print(f"phase {phase}: {trainable:,} trainable parameters, learning rate {lr:g}, up to {epochs} epochs")
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience, restore_best_weights=True)
    class_weight = balanced_class_weights(train[1], model.output_shape[-1]) if config.class_weights == "auto" else None
    started = time.perf_counter()
    logs = model.fit(
        *train,
        validation_data=validation,
        batch_size=config.batch_size,
        epochs=epochs,
        callbacks=[stop],
        class_weight=class_weight,
        shuffle=True,
        verbose=keras_verbosity(),
    ).history
    seconds = round(time.perf_counter() - started, 1)
    return [
        {
            "phase": phase,
            "epoch": epoch + 1,
            **{key: values[epoch] for key, values in logs.items()},
            "phase_seconds": seconds,
        }
        for epoch in range(len(logs["loss"]))
    ]


def _report_dataset(console: Console, dataset: Dataset) -> None:
    layout = "train/validation folders" if dataset.layout == "split" else "seeded stratified split"
    console.print(
        f"{dataset.root}: {len(dataset.labels)} classes, {len(dataset.train)} training and "
        f"{len(dataset.validation)} validation images ({layout})"
    )
    if dataset.skipped:
        console.print(f"[yellow]skipped {len(dataset.skipped)} unreadable image(s):[/yellow]")
        for entry in dataset.skipped:
            console.print(f"  {entry.path}: {entry.reason}", markup=False)
    if dataset.ignored:
        examples = ", ".join(Path(p).name for p in dataset.ignored[:3])
        console.print(f"ignored {len(dataset.ignored)} file(s) that are not images by extension (e.g. {examples})")


def _device_name() -> str:
    gpus = tf.config.list_physical_devices("GPU")
    return f"{len(gpus)} GPU(s)" if gpus else "CPU"


def _csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(dict.fromkeys(key for row in rows for key in row)))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()

"""Two-phase transfer learning, as in the Keras guide: a new head on a frozen backbone, then the top of the
backbone fine-tuned at a low learning rate with BatchNorm kept in inference mode."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import shutil
import time
from functools import partial
from pathlib import Path

import numpy as np
from rich.console import Console

from edge.config import TrainConfig
from edge.options import relative_path, save_config
from edge.report import confusion_png, curves_png, print_summary
from edge.runtime import Artifact, EdgeError, Manifest
from edge.runtime.console import make_console
from edge.runtime.datasets import Dataset, balanced_class_weights, load_dataset
from edge.runtime.files import atomic_write_bytes, atomic_write_text, sha256_file
from edge.runtime.metrics import classification_report
from edge.runtime.preprocess import RESIZE_POLICY
from edge.runtime.run_dir import RunDir

from .augment import augmentation, with_augmentation
from .backbones import get_backbone
from .checkpoints import Checkpoints
from .devices import distribution, float32_copy, mixed_precision, precision_policy
from .features import AUGMENTED_COPIES, feature_extractor, head_model, training_features
from .legacy_keras import keras, tf
from .model import (
    backbone_layers,
    build_classifier,
    fine_tune_layer_index,
    freeze_backbone,
    unfreeze_all,
    unfreeze_top,
)
from .progress import keras_verbosity, progress_bar
from .weights import Weights, resolve_weights


def train(config: TrainConfig, console: Console | None = None, resume: bool = False) -> Path:
    """Train a classifier on `config.data_dir` and write its run directory; return the directory.

    `resume` continues the interrupted run that was writing `config.out` from its last finished epoch.
    """
    console = console or make_console()
    backbone = get_backbone(config.model, config.alpha)
    config.image_size = config.image_size or backbone.default_size
    fine_tune_at = config.fine_tune_at or backbone.fine_tune_at
    if resume and config.out is None:
        raise EdgeError("--resume needs --out: the run directory the interrupted run was writing")
    out = config.out or Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    mixed = mixed_precision(config.mixed_precision)
    with RunDir(out).staged(resume=resume) as staging, _resume_hint(console, out):
        checkpoints = Checkpoints(staging.checkpoints)
        checkpoints.match_config(config.to_json(), resume)
        with progress_bar(console, "Preparing images") as progress:
            dataset = load_dataset(
                config.data_dir, config.image_size, val_split=config.val_split, seed=config.seed, progress=progress
            )
        _report_dataset(console, dataset)
        weights = resolve_weights(config.weights, backbone, config.alpha, config.image_size, say=console.print)
        keras.utils.set_random_seed(config.seed)
        strategy = distribution()
        with strategy.scope(), precision_policy(mixed):
            model = build_classifier(
                backbone, len(dataset.labels), config.image_size, config.alpha, weights, config.dropout, config.l2
            )
            fine_tune_layer_index(backbone_layers(model), fine_tune_at)  # a bad --fine-tune-at fails before training
            console.print(
                f"{backbone.name}{f' alpha {config.alpha}' if len(backbone.alphas) > 1 else ''} at "
                f"{config.image_size}px, weights {weights.source}, on {_device_name(strategy, mixed)}"
            )
            history, seconds = _train_phases(
                console, model, dataset, config, fine_tune_at, checkpoints, from_scratch=weights.path is None
            )
        if mixed:  # the run's model computes in float32, as every export expects
            model = float32_copy(
                model,
                lambda: build_classifier(
                    backbone,
                    len(dataset.labels),
                    config.image_size,
                    config.alpha,
                    Weights(None, "none"),
                    config.dropout,
                    config.l2,
                ),
            )

        probabilities = model.predict(dataset.validation.x, batch_size=config.batch_size, verbose=0)
        metrics = {
            "validation": classification_report(probabilities, dataset.validation.y, dataset.labels),
            "train_seconds": seconds,
            "skipped": [vars(entry) for entry in dataset.skipped],
        }
        shutil.rmtree(checkpoints.root)
        model.save(staging.model)
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
                "root": relative_path(out, config.data_dir),
                "layout": dataset.layout,
                "val_split": config.val_split,
                "seed": config.seed,
                "train": len(dataset.train),
                "validation": len(dataset.validation),
                "skipped": len(dataset.skipped),
            },
            training=config.to_json()
            | {"data_dir": relative_path(out, config.data_dir), "out": "."}
            | ({"weights": relative_path(out, config.weights)} if Path(config.weights).is_file() else {}),
        )
        accuracy = metrics["validation"]["accuracy"]
        digest = sha256_file(staging.model)
        manifest.record(Artifact(RunDir.MODEL, "keras", "float32", "trained", digest, {"accuracy": accuracy}))
        manifest.save(staging.manifest_file)
        save_config(config, staging.config)  # edge train --config run/config.yaml repeats the run
        atomic_write_text(staging.labels, "".join(f"{label}\n" for label in dataset.labels))
        atomic_write_text(staging.metrics, json.dumps(metrics, indent=2) + "\n")
        atomic_write_text(staging.history, _csv(history))
        atomic_write_bytes(staging.curves, curves_png(history))
        atomic_write_bytes(staging.confusion, confusion_png(metrics["validation"], dataset.labels,
                                                                            "validation"))  # fmt: skip
    RunDir(out).point_latest()
    print_summary(console, metrics["validation"], dataset.labels, dataset.skipped, metrics["train_seconds"])
    console.print(f"validation accuracy {accuracy:.4f} on {len(dataset.validation)} images; run written to {out}")
    return out


def _train_phases(console, model, dataset: Dataset, config: TrainConfig, fine_tune_at, checkpoints: Checkpoints,
                  from_scratch: bool):  # fmt: skip
    """Phase 1 (frozen backbone, head on cached features), then phase 2 (top of the backbone unfrozen); from
    random weights, one phase in which the whole network learns.

    Returns the per-epoch history of the phases and the seconds each part took in this process.
    """
    classes = len(dataset.labels)
    seconds = {}
    freeze_backbone(model)
    augment = augmentation(config.seed, config.flip) if config.augment else None

    def features():
        copies = f" (training images also {AUGMENTED_COPIES}x augmented)" if augment else ""
        console.print(f"phase frozen: caching the backbone's features of every image{copies}")
        started = time.perf_counter()
        extract = feature_extractor(model, config.batch_size)
        train = training_features(extract, dataset.train.x, dataset.train.y, augment)
        validation = extract(dataset.validation.x), dataset.validation.y
        seconds["features"] = round(time.perf_counter() - started, 1)
        return _batches(*train, classes, config, shuffle=True), _batches(*validation, classes, config), train[1]

    def images(unfreeze, *args):
        unfreeze(model, *args)
        return (
            _batches(dataset.train.x, dataset.train.y, classes, config, shuffle=True),
            _batches(dataset.validation.x, dataset.validation.y, classes, config),
            dataset.train.y,
        )

    trainer = with_augmentation(model, config.seed, config.flip) if config.augment else model
    if from_scratch:
        epochs = config.epochs + config.fine_tune_epochs
        console.print(
            f"[yellow]random weights: the whole network trains, BatchNorm included, in one phase of {epochs} "
            "epochs (--epochs + --fine-tune-epochs); from scratch it needs far more data than fine-tuning ImageNet "
            "weights (thousands of images per class)[/yellow]"
        )
        phases = [("scratch", trainer, config.lr, epochs, partial(images, unfreeze_all))]
    else:
        phases = [("frozen", head_model(model), config.lr, config.epochs, features)]
        if config.fine_tune_epochs:
            top_images = partial(images, unfreeze_top, fine_tune_at)
            phases.append(("fine-tune", trainer, config.fine_tune_lr, config.fine_tune_epochs, top_images))

    history = []
    for phase, trainer, lr, epochs, data in phases:
        if checkpoints.done(phase).is_file():
            model.load_weights(checkpoints.done(phase))
            console.print(f"phase {phase}: finished before the interruption, weights restored")
        else:
            train, validation, labels = data()
            started = time.perf_counter()
            _fit(console, trainer, phase, lr, epochs, (train, labels), validation, config, checkpoints)
            seconds[phase] = round(time.perf_counter() - started, 1)
            checkpoints.finish(phase, model)
        history += [{"phase": phase, **row, "epoch": row["epoch"] + 1} for row in checkpoints.history(phase)]
    return history, seconds


def _fit(console, model, phase: str, lr: float, epochs: int, train_and_labels, validation, config: TrainConfig,
         checkpoints):  # fmt: skip
    """One phase: compile with `lr` and the schedule, fit with early stopping, keep the best epoch's weights.

    `train_and_labels` is the batched training data and its labels, from which --class-weights auto counts.
    """
    train, labels = train_and_labels
    trainable = sum(int(weight.shape.num_elements()) for weight in model.trainable_weights)
    console.print(
        f"phase {phase}: {trainable:,} trainable parameters, learning rate {lr:g} ({config.schedule}), "
        f"up to {epochs} epochs"
    )
    steps = int(train.cardinality()) * epochs
    callbacks = checkpoints.callbacks(phase, config.patience)
    if config.schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps=steps)
    elif config.schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(factor=0.2, patience=max(1, config.patience // 2)))
    model.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy"],
    )
    class_weight = balanced_class_weights(labels, model.output_shape[-1]) if config.class_weights == "auto" else None
    model.fit(
        train,
        validation_data=validation,
        epochs=epochs,
        callbacks=callbacks,
        class_weight=class_weight,
        verbose=keras_verbosity(),
    )
    if checkpoints.best(phase).is_file():
        model.load_weights(checkpoints.best(phase))


def _batches(x: np.ndarray, y: np.ndarray, classes: int, config: TrainConfig, shuffle: bool = False):
    """A prefetching tf.data pipeline over the uint8 images (or features) with one-hot labels."""
    batches = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        batches = batches.shuffle(len(x), seed=config.seed, reshuffle_each_iteration=True)
    batches = batches.batch(config.batch_size).map(lambda images, labels: (images, tf.one_hot(labels, classes)))
    return batches.prefetch(tf.data.AUTOTUNE)


@contextlib.contextmanager
def _resume_hint(console: Console, out: Path):
    """On Ctrl-C, say how to continue from the last checkpoint."""
    try:
        yield
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted: continue with the same command and --out {out} --resume[/yellow]")
        raise


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


def _device_name(strategy, mixed: bool) -> str:
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU"
    return (
        f"{len(gpus)} GPU(s), {strategy.num_replicas_in_sync} replica(s), {'mixed' if mixed else 'float32'} precision"
    )


def _csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(dict.fromkeys(key for row in rows for key in row)))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()

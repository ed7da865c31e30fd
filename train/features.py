"""Phase 1 on cached features.

With the backbone frozen (and its BatchNorm in inference mode) an image's pooled backbone output never changes,
so it is computed once and the head trains on it: one backbone pass per image instead of one per image per
epoch. Augmentation cannot then be fresh every epoch; instead each training image is cached as itself plus
`AUGMENTED_COPIES` augmented versions, which gives the head the same kind of variety at a fixed cost.

On a CPU the frozen backbone runs as a float TFLite model on XNNPACK, about three times faster per image than
TensorFlow (benchmarks/phase1.py); its features match TensorFlow's to float32 rounding. On a GPU TensorFlow
runs it, as it does under mixed precision (TFLite has no float16 Keras layers).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from edge.runtime.backends import LiteRTBackend

from .legacy_keras import keras, tf
from .model import HEAD_NAMES
from .tflite import float_tflite

AUGMENTED_COPIES = 2


def pooled_features(model: keras.Model, images: np.ndarray, batch_size: int, augment: keras.Model | None = None):
    """The model's pooled backbone output for each image (after `augment` in training mode, when given)."""
    pool = model.get_layer(HEAD_NAMES[0])
    extractor = keras.Model(model.input, pool.output)
    if tf.config.list_physical_devices("GPU") or pool.compute_dtype != "float32":  # TFLite has no mixed precision
        if augment is not None:  # training=True fixed in the graph: predict() then augments, in graph mode
            images_in = keras.Input(model.input_shape[1:])
            extractor = keras.Model(images_in, extractor(augment(images_in, training=True), training=False))
        return extractor.predict(images, batch_size=batch_size, verbose=0)
    run = _xnnpack(extractor)
    features = []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size].astype(np.float32)
        if augment is not None:
            batch = augment(batch, training=True).numpy()
        features += [run(image) for image in batch]
    return np.stack(features)


def _xnnpack(model: keras.Model):
    """`model` on the runtime's LiteRT backend (XNNPACK, all cores): one float32 image -> its output."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "extractor.tflite"
        path.write_bytes(float_tflite(model))
        return LiteRTBackend(path).run


def training_features(
    model: keras.Model, images: np.ndarray, labels: np.ndarray, batch_size: int, augment: keras.Model | None
) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of the training images, with `AUGMENTED_COPIES` augmented versions when `augment`."""
    copies = [pooled_features(model, images, batch_size)]
    if augment is not None:
        copies += [pooled_features(model, images, batch_size, augment) for _ in range(AUGMENTED_COPIES)]
    return np.concatenate(copies), np.tile(labels, len(copies))


def head_model(model: keras.Model) -> keras.Model:
    """The model's own dropout and classification layers on a features input: training it trains the model."""
    pool, dropout, predictions = (model.get_layer(name) for name in HEAD_NAMES)
    features = keras.Input(pool.output_shape[1:], name="features")
    return keras.Model(features, predictions(dropout(features)), name="head")

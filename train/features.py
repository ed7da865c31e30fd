"""Phase 1 on cached features.

With the backbone frozen (and its BatchNorm in inference mode) an image's pooled backbone output never changes,
so it is computed once and the head trains on it: one backbone pass per image instead of one per image per
epoch. Augmentation cannot then be fresh every epoch; instead each training image is cached as itself plus
`AUGMENTED_COPIES` augmented version. One is enough: on clothing_small a head trained on the originals and one
augmented copy scores as well as with two copies (0.8563 both, median of 3 seeds), better than on the originals
alone (0.8416) or on augmented copies without the originals (0.8299 one, 0.8475 two) — and each copy costs a
backbone pass per image, which is what phase 1 spends its time on.

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

AUGMENTED_COPIES = 1


def feature_extractor(model: keras.Model, batch_size: int):
    """A function (images, augment=None) -> the model's pooled backbone output per image, after `augment` in
    training mode when given. The backbone is converted (or wrapped) once, for every call."""
    pool = model.get_layer(HEAD_NAMES[0])
    extractor = keras.Model(model.input, pool.output)
    if tf.config.list_physical_devices("GPU") or pool.compute_dtype != "float32":  # TFLite has no mixed precision

        def on_tensorflow(images: np.ndarray, augment: keras.Model | None = None) -> np.ndarray:
            net = extractor
            if augment is not None:  # training=True fixed in the graph: predict() then augments, in graph mode
                images_in = keras.Input(model.input_shape[1:])
                net = keras.Model(images_in, extractor(augment(images_in, training=True), training=False))
            return net.predict(images, batch_size=batch_size, verbose=0)

        return on_tensorflow
    run = _xnnpack(extractor)

    def on_xnnpack(images: np.ndarray, augment: keras.Model | None = None) -> np.ndarray:
        distort = tf.function(lambda batch: augment(batch, training=True)) if augment is not None else None
        features = []
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size].astype(np.float32)
            if distort is not None:
                batch = distort(batch).numpy()  # a graph: a quarter faster than layer by layer
            features += [run(image) for image in batch]
        return np.stack(features)

    return on_xnnpack


def _xnnpack(model: keras.Model):
    """`model` on the runtime's LiteRT backend (XNNPACK, all cores): one float32 image -> its output."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "extractor.tflite"
        path.write_bytes(float_tflite(model))
        return LiteRTBackend(path).run


def training_features(
    extract, images: np.ndarray, labels: np.ndarray, augment: keras.Model | None, copies: int = AUGMENTED_COPIES
) -> tuple[np.ndarray, np.ndarray]:
    """Features (by `extract`, a `feature_extractor`) and labels of the training images, with `copies` augmented
    versions when `augment`."""
    features = [extract(images)]
    if augment is not None:
        features += [extract(images, augment) for _ in range(copies)]
    return np.concatenate(features), np.tile(labels, len(features))


def head_model(model: keras.Model) -> keras.Model:
    """The model's own dropout and classification layers on a features input: training it trains the model."""
    pool, dropout, predictions = (model.get_layer(name) for name in HEAD_NAMES)
    features = keras.Input(pool.output_shape[1:], name="features")
    return keras.Model(features, predictions(dropout(features)), name="head")

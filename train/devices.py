"""Where training runs: all GPUs through MirroredStrategy when there are several, mixed precision on GPU."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from .legacy_keras import keras, tf


def distribution() -> tf.distribute.Strategy:
    """MirroredStrategy across the GPUs when there are two or more; otherwise the default (one device)."""
    gpus = tf.config.list_physical_devices("GPU")
    return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()


def mixed_precision(setting: str) -> bool:
    """`--mixed-precision auto` is on exactly when a GPU is present: float16 math is slower on a CPU."""
    return setting == "on" or (setting == "auto" and bool(tf.config.list_physical_devices("GPU")))


@contextlib.contextmanager
def precision_policy(mixed: bool):
    """Layers built inside compute in float16 with float32 weights when `mixed`; Keras then scales the loss."""
    if not mixed:
        yield
        return
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")


def float32_copy(model: keras.Model, build: Callable[[], keras.Model]) -> keras.Model:
    """A float32 model (made by `build`) with the weights of a mixed-precision one, whose variables are float32."""
    copy = build()
    copy.set_weights(model.get_weights())
    return copy

"""Augmentation: Keras preprocessing layers in the training graph only; exported models never contain them.

Left-right flips, small rotations, zooms and shifts, contrast and brightness changes and a little pixel noise. Besides
regularising, they make the model's answers stable under small perturbations, which is what int8 quantization
adds: a model trained this way keeps its top-1 answers after quantization much more often.
"""

from __future__ import annotations

from .legacy_keras import keras


def augmentation(seed: int, flip: bool = True) -> keras.Sequential:
    """Random transforms of raw 0-255 RGB batches; identity at inference.

    `flip` mirrors half the images left to right: right for most photos, wrong for data whose meaning changes
    in a mirror (text, hand signs, digits).
    """
    float32 = {"dtype": "float32"}  # on pixels, whatever the precision policy (no float16 contrast kernel on CPU)
    mirror = [keras.layers.RandomFlip("horizontal", seed=seed + 6, **float32)] if flip else []
    return keras.Sequential(
        [
            *mirror,
            keras.layers.RandomRotation(0.05, seed=seed, **float32),
            keras.layers.RandomZoom(0.1, seed=seed + 1, **float32),
            keras.layers.RandomTranslation(0.05, 0.05, seed=seed + 2, **float32),
            keras.layers.RandomContrast(0.2, seed=seed + 3, **float32),
            keras.layers.RandomBrightness(0.1, value_range=(0, 255), seed=seed + 4, **float32),
            keras.layers.GaussianNoise(3.0, seed=seed + 5, **float32),
        ],
        name="augmentation",
    )


def with_augmentation(model: keras.Model, seed: int, flip: bool = True) -> keras.Model:
    """A training model that augments its input and then runs `model`, whose weights it shares."""
    inputs = keras.Input(model.input_shape[1:], name="image")
    return keras.Model(inputs, model(augmentation(seed, flip)(inputs)), name=f"{model.name}_augmented")

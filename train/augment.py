"""Augmentation: random transforms in the training graph only; exported models never contain them.

Left-right flips, small rotations, zooms and shifts, contrast and brightness changes and a little pixel noise. Besides
regularising, they make the model's answers stable under small perturbations, which is what int8 quantization
adds: a model trained this way keeps its top-1 answers after quantization much more often.

The geometric part is one affine resampling per image (`RandomGeometry`) rather than Keras's RandomFlip,
RandomRotation, RandomZoom and RandomTranslation, which resample the whole image once each: a third of the time
(it is most of what phase 1's augmented copies cost on a CPU) and one interpolation blur instead of three. The
pixel noise is uniform (`UniformNoise`) rather than Keras's GaussianNoise, whose normal draws cost more than the
rest of the augmentation together on a CPU; noise of the same standard deviation perturbs as much.
"""

from __future__ import annotations

import math

from .compat import BaseRandomLayer
from .legacy_keras import keras, tf


def augmentation(seed: int, flip: bool = True) -> keras.Sequential:
    """Random transforms of raw 0-255 RGB batches; identity at inference.

    `flip` mirrors half the images left to right: right for most photos, wrong for data whose meaning changes
    in a mirror (text, hand signs, digits).
    """
    float32 = {"dtype": "float32"}  # on pixels, whatever the precision policy (no float16 contrast kernel on CPU)
    return keras.Sequential(
        [
            RandomGeometry(rotation=0.05, zoom=0.1, shift=0.05, flip=flip, seed=seed, **float32),
            keras.layers.RandomContrast(0.2, seed=seed + 3, **float32),
            keras.layers.RandomBrightness(0.1, value_range=(0, 255), seed=seed + 4, **float32),
            UniformNoise(3.0, seed=seed + 5, **float32),
        ],
        name="augmentation",
    )


def with_augmentation(model: keras.Model, seed: int, flip: bool = True) -> keras.Model:
    """A training model that augments its input and then runs `model`, whose weights it shares."""
    inputs = keras.Input(model.input_shape[1:], name="image")
    return keras.Model(inputs, model(augmentation(seed, flip)(inputs)), name=f"{model.name}_augmented")


class RandomGeometry(BaseRandomLayer):
    """Per image: a rotation of up to ±`rotation` of a full turn, a zoom by up to ±`zoom`, a shift by up to
    ±`shift` of the width and height, and (with `flip`) a left-right mirror half the time; the same ranges as
    Keras's RandomRotation, RandomZoom and RandomTranslation. Gaps are filled by reflection, as theirs are."""

    def __init__(self, rotation: float, zoom: float, shift: float, flip: bool, seed: int | None = None, **kwargs):
        super().__init__(seed=seed, force_generator=True, **kwargs)
        self.rotation, self.zoom, self.shift, self.flip, self.seed = rotation, zoom, shift, flip, seed

    def call(self, images, training=True):
        if not training:
            return images
        images = tf.cast(images, self.compute_dtype)
        shape = tf.shape(images)
        count, height, width = shape[0], tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
        uniform = self._random_generator.random_uniform
        turn = self.rotation * 2 * math.pi
        mirror = uniform([count]) < 0.5 if self.flip else tf.zeros([count], tf.bool)
        transforms = affine_transforms(
            angles=uniform([count], -turn, turn),
            scales=uniform([count], 1 - self.zoom, 1 + self.zoom),
            shifts=uniform([count, 2], -self.shift, self.shift) * tf.stack([width, height]),
            mirror=mirror,
            height=height,
            width=width,
        )
        return tf.raw_ops.ImageProjectiveTransformV3(
            images=images,
            transforms=transforms,
            output_shape=shape[1:3],
            fill_value=0.0,
            interpolation="BILINEAR",
            fill_mode="REFLECT",
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        options = {"rotation": self.rotation, "zoom": self.zoom, "shift": self.shift, "flip": self.flip}
        return {**super().get_config(), **options, "seed": self.seed}


def affine_transforms(angles, scales, shifts, mirror, height, width):
    """Per image, the 8 parameters of ImageProjectiveTransformV3 (output pixel -> the input point it samples):
    mirror left-right where `mirror`, rotate by `angles` (radians) and scale by `scales` about the centre, then
    shift by `shifts` ([n, 2]: x, y in pixels)."""
    centre_x, centre_y = (width - 1) / 2, (height - 1) / 2
    sign = 1 - 2 * tf.cast(mirror, tf.float32)
    cos, sin = scales * tf.cos(angles), scales * tf.sin(angles)
    a0, a1, b0, b1 = sign * cos, -sin, sign * sin, cos
    a2 = centre_x - a0 * centre_x - a1 * centre_y + shifts[:, 0]
    b2 = centre_y - b0 * centre_x - b1 * centre_y + shifts[:, 1]
    zeros = tf.zeros_like(angles)
    return tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)


class UniformNoise(BaseRandomLayer):
    """Adds independent uniform noise of standard deviation `stddev` to every value while training."""

    def __init__(self, stddev: float, seed: int | None = None, **kwargs):
        super().__init__(seed=seed, force_generator=True, **kwargs)
        self.stddev, self.seed = stddev, seed

    def call(self, inputs, training=True):
        if not training:
            return inputs
        half_width = self.stddev * math.sqrt(3)
        return inputs + self._random_generator.random_uniform(tf.shape(inputs), -half_width, half_width)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}

import math

import numpy as np
import pytest

from edge.train.augment import RandomGeometry, UniformNoise, affine_transforms, augmentation
from edge.train.legacy_keras import tf


def _images(count, size=8):
    return np.random.default_rng(0).integers(0, 256, (count, size, size, 3)).astype(np.float32)


def _transform(images, **matrix):
    count, height, width = images.shape[:3]
    transforms = affine_transforms(height=float(height), width=float(width), **matrix)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=[height, width], fill_value=0.0,
        interpolation="BILINEAR", fill_mode="REFLECT",
    ).numpy()  # fmt: skip


def test_the_combined_matrix_turns_mirrors_and_shifts_images_as_numpy_does():
    images = _images(2, size=6)
    none, ones = np.zeros(2, np.float32), np.ones(2, np.float32)
    still = {"scales": ones, "shifts": np.zeros((2, 2), np.float32)}
    assert np.array_equal(_transform(images, angles=none, mirror=[False, False], **still), images)
    assert np.array_equal(_transform(images, angles=none, mirror=[True, True], **still), images[:, :, ::-1])
    quarter = _transform(images, angles=ones * math.pi / 2, mirror=[False, False], **still)
    assert np.allclose(quarter, np.rot90(images, axes=(1, 2)), atol=1e-3)
    shifted = _transform(images, angles=none, mirror=[False, False], scales=ones, shifts=np.float32([[1, 0]] * 2))
    assert np.array_equal(shifted[:, :, :-1], images[:, :, 1:])  # each output pixel samples one to its right


@pytest.mark.parametrize("flip", [True, False])
def test_flip_mirrors_about_half_the_images_and_no_flip_none(flip):
    images = _images(64)
    out = RandomGeometry(rotation=0, zoom=0, shift=0, flip=flip, seed=0)(images, training=True).numpy()
    mirrored, kept = ((out == reference).all(axis=(1, 2, 3)) for reference in (images[:, :, ::-1], images))
    assert (mirrored | kept).all()
    assert 16 <= sum(mirrored) <= 48 if flip else not any(mirrored)
    assert augmentation(0, flip).layers[0].flip is flip


def test_geometry_moves_pixels_within_its_ranges_and_only_while_training():
    images = _images(16, size=32)
    geometry = RandomGeometry(rotation=0.05, zoom=0.1, shift=0.05, flip=False, seed=0)
    assert np.array_equal(geometry(images, training=False), images)
    out = geometry(images, training=True).numpy()
    assert (np.abs(out - images).max(axis=(1, 2, 3)) > 1).all()
    assert out.min() >= 0 and out.max() <= 255  # reflected, never black borders or overshoot


def test_noise_has_the_standard_deviation_asked_for_and_only_while_training():
    images = _images(8, size=64)
    noise = UniformNoise(3.0, seed=0)
    assert np.array_equal(noise(images, training=False), images)
    added = noise(images, training=True).numpy() - images
    assert abs(added.std() - 3.0) < 0.05 and abs(added.mean()) < 0.05
    assert np.abs(added).max() <= 3.0 * math.sqrt(3) + 1e-3  # uniform: bounded

"""Phase 1 on cached backbone features: the same head as training through the frozen backbone, much faster."""

from __future__ import annotations

import numpy as np
import pytest

from edge.runtime.datasets import load_dataset
from edge.train.augment import augmentation
from edge.train.backbones import get_backbone
from edge.train.features import AUGMENTED_COPIES, feature_extractor, head_model, training_features
from edge.train.legacy_keras import keras
from edge.train.model import build_classifier, freeze_backbone
from edge.train.weights import Weights

from .helpers import MOBILENET_035, shared_path

BACKBONE = get_backbone("mobilenet_v2", 0.35)


def _model(weights: Weights, classes: int) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = build_classifier(BACKBONE, classes, 96, 0.35, weights, dropout=0.2)
    freeze_backbone(model)
    return model


def test_the_head_on_features_is_the_model_s_own_head():
    model = _model(Weights(None, "none"), 3)
    images = np.random.default_rng(0).integers(0, 256, (4, 96, 96, 3)).astype(np.uint8)
    head = head_model(model)
    features = feature_extractor(model, batch_size=2)(images)
    assert np.allclose(head.predict(features, verbose=0), model.predict(images, verbose=0), atol=1e-5)
    head.get_layer("predictions").set_weights([w + 1 for w in head.get_layer("predictions").get_weights()])
    assert np.allclose(head.predict(features, verbose=0), model.predict(images, verbose=0), atol=1e-5)


def test_augmented_copies_multiply_the_training_set_and_differ():
    model = _model(Weights(None, "none"), 3)
    images = np.random.default_rng(0).integers(0, 256, (5, 96, 96, 3)).astype(np.uint8)
    x, y = training_features(feature_extractor(model, 4), images, np.arange(5) % 3, augment=augmentation(0))
    assert x.shape[0] == y.shape[0] == 5 * (1 + AUGMENTED_COPIES)
    assert np.array_equal(y, np.tile(np.arange(5) % 3, 1 + AUGMENTED_COPIES))
    assert np.abs(x[:5] - x[5:10]).max() > 0.01 * np.abs(x[:5]).max()  # random weights: tiny features


@pytest.mark.slow
def test_cached_features_train_as_good_a_head_as_the_frozen_backbone_does():
    data = load_dataset(shared_path("data/sign_digits"), 96, val_split=0.2, seed=42)
    weights = Weights(shared_path(f"weights/{MOBILENET_035}"), "imagenet")
    accuracy = {}
    for way in ("end-to-end", "cached"):
        model = _model(weights, len(data.labels))
        if way == "cached":
            trained = head_model(model)
            extract = feature_extractor(model, 32)
            x, v = extract(data.train.x), extract(data.validation.x)
        else:
            trained, x, v = model, data.train.x, data.validation.x
        trained.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", ["accuracy"])
        trained.fit(x, data.train.y, batch_size=32, epochs=5, verbose=0)
        accuracy[way] = trained.evaluate(v, data.validation.y, verbose=0)[1]
    print(accuracy)
    assert accuracy["cached"] >= accuracy["end-to-end"] - 0.02 and accuracy["cached"] > 0.6

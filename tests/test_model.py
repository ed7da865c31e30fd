"""Model building, the two phases' trainable flags, ImageNet weight resolution and quantization-aware setup."""

from __future__ import annotations

import numpy as np
import pytest

from edge.runtime import EdgeError
from edge.runtime.files import sha256_file
from edge.train.backbones import get_backbone
from edge.train.legacy_keras import keras
from edge.train.model import (
    SCRATCH_BN_MOMENTUM,
    backbone_layers,
    build_classifier,
    freeze_backbone,
    unfreeze_all,
    unfreeze_top,
)
from edge.train.weights import Weights, WeightsUnavailable, resolve_weights

from .helpers import MOBILENET_035, shared_path

BACKBONE = get_backbone("mobilenet_v2", 0.35)


@pytest.fixture(scope="module")
def model():
    return build_classifier(BACKBONE, 4, 96, 0.35, Weights(None, "none"), dropout=0.2)


def test_the_graph_is_flat_and_takes_raw_pixels(model):
    assert not any(isinstance(layer, keras.Model) for layer in model.layers)
    assert model.input_shape == (None, 96, 96, 3) and model.output_shape == (None, 4)
    rescaling = model.get_layer("preprocess")
    assert isinstance(rescaling, keras.layers.Rescaling)
    pixels = np.array([[[[0.0, 127.5, 255.0]]]], np.float32)
    assert np.allclose(rescaling(pixels).numpy(), [[[[-1.0, 0.0, 1.0]]]])
    assert len(backbone_layers(model)) == len(model.layers) - 5  # input, preprocess and the 3 head layers


def test_phase_one_trains_only_the_head(model):
    freeze_backbone(model)
    assert {layer.name for layer in model.layers if layer.trainable} == {"pool", "dropout", "predictions"}


def test_phase_two_unfreezes_the_top_with_batchnorm_frozen_and_in_inference_mode(model):
    unfreeze_top(model, BACKBONE.fine_tune_at)
    layers = backbone_layers(model)
    start = [layer.name for layer in layers].index(BACKBONE.fine_tune_at)
    assert 0.6 < start / len(layers) < 0.8  # about the top 30%
    assert not any(layer.trainable for layer in layers[:start])
    for layer in layers[start:]:
        assert layer.trainable == (not isinstance(layer, keras.layers.BatchNormalization))
    batchnorm = model.get_layer("Conv_1_bn")
    before = [w.numpy().copy() for w in batchnorm.non_trainable_weights]
    model(np.random.default_rng(0).uniform(0, 255, (4, 96, 96, 3)).astype(np.float32), training=True)
    assert all(np.array_equal(b, w.numpy()) for b, w in zip(before, batchnorm.non_trainable_weights, strict=True))


def test_from_random_weights_every_layer_learns_and_batchnorm_follows_the_batches():
    model = build_classifier(BACKBONE, 4, 96, 0.35, Weights(None, "none"), dropout=0.2)
    unfreeze_all(model)
    assert all(layer.trainable for layer in model.layers)
    images = np.random.default_rng(0).uniform(0, 255, (4, 96, 96, 3)).astype(np.float32)
    convolved = keras.Model(model.input, model.get_layer("Conv_1").output)(images, training=True).numpy()
    batchnorm = model.get_layer("Conv_1_bn")
    before = batchnorm.moving_mean.numpy().copy()
    model(images, training=True)  # training mode: batch statistics, and the moving ones move 10% towards them
    expected = SCRATCH_BN_MOMENTUM * before + (1 - SCRATCH_BN_MOMENTUM) * convolved.mean(axis=(0, 1, 2))
    assert np.allclose(batchnorm.moving_mean.numpy(), expected, atol=1e-5)


def test_fine_tune_point_by_index_and_bad_names(model):
    unfreeze_top(model, "-10")
    assert sum(layer.trainable for layer in backbone_layers(model)[-10:]) > 0
    assert not any(layer.trainable for layer in backbone_layers(model)[:-10])
    with pytest.raises(EdgeError, match="not a layer of the backbone"):
        unfreeze_top(model, "block_99_expand")


def test_imagenet_weights_come_from_the_keras_cache(tmp_path, monkeypatch):
    cache = tmp_path / "models"
    cache.mkdir()
    (cache / MOBILENET_035).symlink_to(shared_path(f"weights/{MOBILENET_035}"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert resolve_weights("imagenet", BACKBONE, 0.35, 224).path == cache / MOBILENET_035

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: Name or service not known")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    said = []
    weights = resolve_weights("imagenet", BACKBONE, 0.35, 96, say=said.append)
    assert weights.path == cache / MOBILENET_035 and "0.35_96_no_top.h5 is not cached" in said[0]
    assert weights.source == f"imagenet {MOBILENET_035} from the Keras cache"
    with pytest.raises(WeightsUnavailable, match=r"place .*_1.0_96_no_top.h5 .* or pass --weights PATH"):
        resolve_weights("imagenet", get_backbone("mobilenet_v2", 1.0), 1.0, 96)


def test_a_weights_file_is_recorded_by_name_and_hash_never_by_path():
    path = shared_path(f"weights/{MOBILENET_035}")
    weights = resolve_weights(str(path), BACKBONE, 0.35, 96)
    assert weights.path == path and weights.source == f"file {MOBILENET_035} (sha256 {sha256_file(path)[:16]}…)"


def test_real_weights_load_into_the_flat_model():
    weights = Weights(shared_path(f"weights/{MOBILENET_035}"), "file")
    model = build_classifier(BACKBONE, 3, 96, 0.35, weights, dropout=0.2)
    kernel = model.get_layer("Conv1").kernel.numpy()
    reference = keras.applications.MobileNetV2((96, 96, 3), alpha=0.35, include_top=False, weights=str(weights.path))
    assert np.array_equal(kernel, reference.get_layer("Conv1").kernel.numpy())


def test_unknown_model_and_alpha_are_refused():
    with pytest.raises(EdgeError, match="unknown model 'resnet'"):
        get_backbone("resnet", 1.0)
    with pytest.raises(EdgeError, match="--alpha 0.4 is not available"):
        get_backbone("mobilenet_v2", 0.4)


def test_augmentation_shares_the_weights_and_is_the_identity_at_inference(model):
    from edge.train.augment import with_augmentation

    trainer = with_augmentation(model, seed=0)
    pixels = np.random.default_rng(0).integers(0, 256, (2, 96, 96, 3)).astype(np.float32)
    augment = trainer.get_layer("augmentation")
    assert np.array_equal(augment(pixels, training=False).numpy(), pixels)
    assert not np.allclose(augment(pixels, training=True).numpy(), pixels)
    assert np.allclose(trainer(pixels, training=False).numpy(), model(pixels, training=False).numpy(), atol=1e-6)
    assert {id(w) for w in model.weights} <= {id(w) for w in trainer.weights}

"""The classifier: raw RGB in, backbone normalisation and backbone layers inline, a small softmax head.

The graph is flat (the backbone's layers are the model's own layers, not a nested Model) because tfmot can
only quantize a flat model.
"""

from __future__ import annotations

from edge.runtime import EdgeError

from .backbones import Backbone
from .legacy_keras import keras
from .weights import Weights

INPUT_NAME, PREPROCESS_NAME = "image", "preprocess"
HEAD_NAMES = ("pool", "dropout", "predictions")


def build_classifier(
    backbone: Backbone, num_classes: int, image_size: int, alpha: float, weights: Weights, dropout: float,
    l2: float = 0.0,
) -> keras.Model:  # fmt: skip
    """Input float 0-255 RGB [H, W, 3] -> softmax over `num_classes`; `l2` penalises the head's kernel.

    The softmax computes in float32 whatever the precision policy, as mixed-precision training needs.
    """
    inputs = keras.Input((image_size, image_size, 3), name=INPUT_NAME)
    normalised = backbone.preprocessing()(inputs)
    base = backbone.build(normalised, alpha)
    if weights.path is not None:
        try:
            backbone.load_weights(base, weights.path)
        except (OSError, ValueError) as error:
            raise EdgeError(f"{weights.path}: cannot load it as {backbone.name} weights ({error})") from None
    pool, drop, predictions = HEAD_NAMES
    x = keras.layers.GlobalAveragePooling2D(name=pool)(base.output)
    x = keras.layers.Dropout(dropout, name=drop)(x)
    regularizer = keras.regularizers.L2(l2) if l2 else None
    outputs = keras.layers.Dense(
        num_classes, activation="softmax", kernel_regularizer=regularizer, dtype="float32", name=predictions
    )(x)
    return keras.Model(inputs, outputs, name=f"edge_{backbone.name}")


def backbone_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The backbone's layers: everything between the normalisation layer and the head."""
    names = [layer.name for layer in model.layers]
    return model.layers[names.index(PREPROCESS_NAME) + 1 : names.index(HEAD_NAMES[0])]


def freeze_backbone(model: keras.Model) -> None:
    """Phase 1: only the head learns."""
    for layer in model.layers:
        layer.trainable = layer.name in HEAD_NAMES


def unfreeze_top(model: keras.Model, fine_tune_at: str | int) -> None:
    """Phase 2: the backbone from `fine_tune_at` (layer name or index into the backbone) and the head learn.

    BatchNormalization layers stay frozen, which in Keras also keeps them in inference mode: their moving
    statistics from ImageNet are not overwritten by small, differently distributed batches.
    """
    layers = backbone_layers(model)
    start = fine_tune_layer_index(layers, fine_tune_at)
    for index, layer in enumerate(layers):
        layer.trainable = index >= start and not isinstance(layer, keras.layers.BatchNormalization)
    for name in HEAD_NAMES:
        model.get_layer(name).trainable = True


SCRATCH_BN_MOMENTUM = 0.9


def unfreeze_all(model: keras.Model) -> None:
    """Training from random weights: every layer learns, BatchNorm included (so in training mode): there are no
    ImageNet statistics to keep, and a frozen random backbone gives features that barely vary.

    BatchNorm's moving statistics follow the batches within tens of steps (momentum 0.9, where the backbones
    use 0.99-0.999): a short run would otherwise predict with statistics still near their random start.
    """
    for layer in model.layers:
        layer.trainable = True
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = SCRATCH_BN_MOMENTUM


def fine_tune_layer_index(layers: list[keras.layers.Layer], fine_tune_at: str | int) -> int:
    names = [layer.name for layer in layers]
    if isinstance(fine_tune_at, str) and fine_tune_at.lstrip("-").isdigit():
        fine_tune_at = int(fine_tune_at)
    if isinstance(fine_tune_at, int):
        if not -len(layers) <= fine_tune_at < len(layers):
            raise EdgeError(f"--fine-tune-at {fine_tune_at} is outside the backbone's {len(layers)} layers")
        return fine_tune_at % len(layers)
    if fine_tune_at not in names:
        example = names[len(names) * 2 // 3]
        raise EdgeError(f"--fine-tune-at {fine_tune_at!r} is not a layer of the backbone (e.g. {example})")
    return names.index(fine_tune_at)

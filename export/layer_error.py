"""Which layers of an int8 TFLite model add the most error: every layer's output against the same layer of the
float TFLite model, on the same images."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from edge.runtime.backends import dequantize, to_input
from edge.train.compat import ops_details


def layer_errors(float_model: Path, int8_model: Path, images: np.ndarray) -> list[tuple[str, float]]:
    """(layer, error it adds) for every layer the two models share, the largest first.

    A layer's error is the RMS difference between its int8 and float outputs over `images`, relative to the
    float output's RMS; what it adds is that minus the largest error among the layers that feed it. Rounding
    noise grows layer by layer through any int8 network; a layer that adds far more than the others is where
    quantization breaks it.
    """
    reference, quantized = _layer_outputs(float_model, images), _layer_outputs(int8_model, images)
    error = {}
    for layer, (values, _) in quantized.items():
        if layer in reference and reference[layer][0].shape == values.shape:
            expected = reference[layer][0]
            error[layer] = float(np.sqrt(np.mean((values - expected) ** 2) / max(np.mean(expected**2), 1e-12)))
    added = {
        layer: error[layer] - max((error[source] for source in quantized[layer][1] if source in error), default=0.0)
        for layer in error
    }
    return [(op.split("/")[0], value) for op, value in sorted(added.items(), key=lambda item: -item[1])]


def _layer_outputs(path: Path, images: np.ndarray) -> dict[str, tuple[np.ndarray, set[str]]]:
    """Op name (`block_1_expand_relu/Relu6`) -> (its output on `images`, dequantized to float, and the ops
    feeding it).

    The converter names each op's output after the Keras layer and TensorFlow op it came from
    (`model/quant_block_1_expand_relu/Relu6;...` in a QAT model, `model/block_1_expand_relu/Relu6;...` in a float
    one), which is what lets two models be matched. Runs without XNNPACK, whose fused partitions do not keep
    intermediate tensors.
    """
    interpreter = Interpreter(
        model_path=str(path),
        experimental_preserve_all_tensors=True,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    interpreter.allocate_tensors()
    tensors = {detail["index"]: detail for detail in interpreter.get_tensor_details()}
    producer: dict[int, str] = {}
    feeds: dict[str, set[str]] = defaultdict(set)
    last_output: dict[str, int] = {}
    for op in ops_details(interpreter):
        layer = _layer_name(tensors[op["outputs"][0]]["name"])
        sources = {producer[index] for index in op["inputs"] if index in producer}
        if layer is None:  # a (DE)QUANTIZE around a float layer: what it passes on comes from its source
            producer.update(dict.fromkeys(op["outputs"], *sources) if len(sources) == 1 else {})
            continue
        feeds[layer] |= sources - {layer}
        for index in op["outputs"]:
            producer[index] = layer
        last_output[layer] = op["outputs"][0]
    (model_input,) = interpreter.get_input_details()
    outputs: dict[str, list[np.ndarray]] = defaultdict(list)
    for image in images:
        interpreter.set_tensor(model_input["index"], to_input(image, model_input)[None])
        interpreter.invoke()
        for layer, index in last_output.items():
            outputs[layer].append(dequantize(interpreter.get_tensor(index), tensors[index]))
    return {layer: (np.stack(values), feeds[layer]) for layer, values in outputs.items()}


def _layer_name(tensor_name: str) -> str | None:
    """`edge_mobilenet_v2/quant_block_1_expand_relu/Relu6;...` -> `block_1_expand_relu/Relu6`."""
    parts = tensor_name.split(";")[0].split("/")
    return "/".join([parts[1].removeprefix("quant_"), *parts[2:]]) if len(parts) >= 3 else None

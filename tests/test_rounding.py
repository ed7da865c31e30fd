"""Weight rounding chosen on data: on the converter's grid, kept exactly by it, and closer to the float model."""

from __future__ import annotations

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from edge.export.rounding import best_rounding, round_weights
from edge.export.tflite import int8_tflite
from edge.runtime.backends import LiteRTBackend
from edge.train.compat import ops_details


def output_error(rows: np.ndarray, rounded: np.ndarray, moment: np.ndarray) -> np.ndarray:
    return np.einsum("ri,ij,rj->r", rounded - rows, moment, rounded - rows)


def test_rounding_high_pass_filters_on_inputs_with_a_large_mean_beats_round_to_nearest():
    """The case that breaks MobileNetV2's first depthwise layer: filters summing to about 0, positive inputs."""
    rng = np.random.default_rng(0)
    rows = rng.normal(0, 1, (40, 9))
    rows -= 0.9 * rows.mean(axis=1, keepdims=True)
    inputs = rng.normal(0, 0.3, (5000, 9)) + rng.uniform(1, 2, 9)
    moment = inputs.T @ inputs / len(inputs)
    step = np.abs(rows).max(axis=1, keepdims=True) / 127
    nearest = np.round(rows / step) * step

    rounded = best_rounding(rows, moment)

    levels = rounded / step
    assert np.allclose(levels, np.round(levels))  # on the grid
    levels = np.round(levels)
    largest = np.abs(rows).argmax(axis=1)
    assert np.all(np.abs(levels[np.arange(len(rows)), largest]) == 127)  # the scale stays the converter's
    assert np.all(output_error(rows, rounded, moment) <= output_error(rows, nearest, moment))
    assert output_error(rows, rounded, moment).mean() < output_error(rows, nearest, moment).mean() / 4


def test_the_converter_keeps_the_rounded_kernels_and_the_int8_model_gets_closer_to_float(
    float_model_and_images, tmp_path
):
    model, images = float_model_and_images
    rounded = round_weights(model, images, batch_size=16)
    expected = model.predict(images, verbose=0)

    kernel = rounded.get_layer("expanded_conv_depthwise").depthwise_kernel.numpy()
    original = model.get_layer("expanded_conv_depthwise").depthwise_kernel.numpy()
    assert not np.array_equal(kernel, original)
    int8 = {"nearest": int8_tflite(model, images), "rounded": int8_tflite(rounded, images)}
    levels = {name: int8_levels(model_bytes, "expanded_conv_depthwise") for name, model_bytes in int8.items()}
    batch_norm = rounded.get_layer("expanded_conv_depthwise_BN")
    folded = (
        kernel[..., 0] * batch_norm.gamma.numpy() / np.sqrt(batch_norm.moving_variance.numpy() + batch_norm.epsilon)
    )
    # the converter folds BatchNorm into the kernel and rounds to nearest: the rounded kernel stays where it was
    assert np.abs(levels["rounded"] - folded / np.abs(folded).max(axis=(0, 1)) * 127).max() < 1e-3
    assert not np.array_equal(levels["rounded"], levels["nearest"])

    errors = {}
    for name, model_bytes in int8.items():
        (tmp_path / f"{name}.tflite").write_bytes(model_bytes)
        probabilities = LiteRTBackend(tmp_path / f"{name}.tflite").run_batch(images)
        errors[name] = np.abs(probabilities - expected).mean()
    print(f"mean |Δp| of the int8 model against float: {errors}")
    assert errors["rounded"] < errors["nearest"]


def int8_levels(model: bytes, layer: str) -> np.ndarray:
    """The int8 weights `[h, w, channels]` of the depthwise op named after `layer`."""
    interpreter = Interpreter(model_content=model)
    interpreter.allocate_tensors()
    tensors = {detail["index"]: detail for detail in interpreter.get_tensor_details()}
    for op in ops_details(interpreter):
        if op["op_name"] == "DEPTHWISE_CONV_2D" and f"/{layer}" in tensors[op["outputs"][0]]["name"]:
            return interpreter.get_tensor(op["inputs"][1])[0]
    raise AssertionError(f"no depthwise op for {layer}")

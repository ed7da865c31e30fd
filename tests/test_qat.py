"""Quantization-aware training starts from the trained float model's weights rounded on data, with calibrated
ranges and raw-pixel input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from edge.config import ExportConfig
from edge.export.qat import calibrate_ranges, calibrated, distill, feeding_groups, fused_group, quantize
from edge.export.rounding import round_weights
from edge.runtime import EdgeError
from edge.train.augment import augmentation
from edge.train.compat import flatbuffer_utils, ops_details
from edge.train.legacy_keras import keras


def test_quantized_copy_carries_the_trained_weights_and_pins_the_input_range(float_model_and_images):
    model, _ = float_model_and_images
    quantized = quantize(model)
    (kernel,) = [w for w in quantized.get_layer("quant_Conv1").weights if w.name.endswith("/kernel:0")]
    assert np.array_equal(kernel.numpy(), model.get_layer("Conv1").kernel.numpy())
    assert input_range(quantized) == [0.0, 255.0]
    assert "quant_preprocess" in [layer.name for layer in quantized.layers]  # Rescaling quantized, kept in graph


def test_depthwise_kernels_are_simulated_per_channel_as_the_converter_quantizes_them(float_model_and_images):
    """tfmot's own quantizer gives a depthwise kernel one scale (its per-axis axis is the depth multiplier)."""
    model, _ = float_model_and_images
    quantized = quantize(model)
    channels = model.get_layer("block_1_depthwise").depthwise_kernel.shape[2]
    ranges = [w for w in quantized.get_layer("quant_block_1_depthwise").weights if w.name.endswith("_min:0")]
    assert [tuple(w.shape) for w in ranges if "kernel" in w.name] == [(channels,)]


def test_training_on_augmented_images_keeps_the_input_range_at_raw_pixels(float_model_and_images):
    model, images = float_model_and_images
    config = ExportConfig(Path("unused"), qat_epochs=1, batch_size=8)
    quantized = calibrated(model, images, config)
    distill(quantized, model, images, config, augment=augmentation(0), seed=0, console=Console(quiet=True))
    assert input_range(quantized) == [0.0, 255.0]  # the default augmentation's noise leaves 0-255


@pytest.mark.parametrize("round_on_data", [True, False])
def test_the_calibrated_copy_starts_from_the_weights_rounded_on_data(float_model_and_images, round_on_data):
    """`round_weights`' kernels, dense kernels excepted (tfmot quantizes them per tensor); with
    --round-to-nearest, the trained weights as they are. Its input range is still all pixel values."""
    model, images = float_model_and_images
    config = ExportConfig(Path("unused"), batch_size=8, round_on_data=round_on_data)
    quantized = calibrated(model, images, config)
    assert input_range(quantized) == [0.0, 255.0]
    rounded = round_weights(model, images, 8)
    for layer in ("expanded_conv_depthwise", "Conv1", "predictions"):
        (kernel,) = [w for w in quantized.get_layer(f"quant_{layer}").weights if w.name.endswith("kernel:0")]
        expected = (rounded if round_on_data and layer != "predictions" else model).get_layer(layer).get_weights()[0]
        assert np.array_equal(kernel.numpy(), expected), layer
        assert not np.array_equal(rounded.get_layer(layer).get_weights()[0], model.get_layer(layer).get_weights()[0])


def test_qat_always_and_ptq_together_is_a_one_line_error():
    with pytest.raises(EdgeError, match="--qat-always asks for quantization-aware training, which --ptq skips"):
        ExportConfig(Path("unused"), ptq=True, qat_always=True)


def input_range(quantized) -> list[float]:
    """The input quantizer's [min, max]."""
    layer = next(layer for layer in quantized.layers if layer.name.startswith("quantize_layer"))
    return sorted(float(w.numpy()) for w in layer.weights if "_min" in w.name or "_max" in w.name)


def test_calibration_makes_the_quantized_model_match_the_float_model_before_any_training(float_model_and_images):
    model, images = float_model_and_images
    expected = model.predict(images, verbose=0)
    quantized = quantize(model)
    uncalibrated = quantized.predict(images, verbose=0)
    calibrate_ranges(quantized, images, batch_size=16)
    calibrated = quantized.predict(images, verbose=0)
    before, after = (np.abs(p - expected).mean() for p in (uncalibrated, calibrated))
    agreement = [np.mean(p.argmax(1) == expected.argmax(1)) for p in (uncalibrated, calibrated)]
    print(f"mean |Δp| before calibration {before:.3f}, after {after:.3f}; agreement {agreement}")
    assert after < before / 2 and agreement[1] >= 0.9


def test_calibrated_ranges_do_not_depend_on_a_dropout_draw(float_model_and_images):
    """Calibration runs the copy in training mode; the head's Dropout (0.2 here) is off in it, so that the logits'
    range is the one the deployed model produces, whatever the random draw."""
    model, images = float_model_and_images
    ranges = []
    for seed in (1, 2):
        keras.utils.set_random_seed(seed)
        quantized = quantize(model)
        calibrate_ranges(quantized, images, batch_size=16)
        ranges.append(np.array([float(w.numpy()) for w in quantized.get_layer("quant_predictions").weights
                                if w.name.endswith(("_min:0", "_max:0"))]))  # fmt: skip
    assert ranges[0].size and np.array_equal(*ranges), ranges


def test_int8_tflite_shares_repeated_quantization_vectors_without_changing_a_result(float_model_and_images, tmp_path):
    """The converter writes an all-zero int64 zero point per channel for every tensor; edge stores each once."""

    from edge.export.tflite import int8_tflite
    from edge.runtime.backends import open_backend

    model, images = float_model_and_images
    shared = tmp_path / "shared.tflite"
    shared.write_bytes(int8_tflite(model, images))
    written_apart = tmp_path / "apart.tflite"  # every vector in its own place, as the converter writes them
    written_apart.write_bytes(flatbuffer_utils.convert_object_to_bytearray(flatbuffer_utils.read_model(shared)))
    print(f"{written_apart.stat().st_size} bytes written apart, {shared.stat().st_size} shared")
    assert shared.stat().st_size < 0.9 * written_apart.stat().st_size
    outputs = [[open_backend(path).run(image) for image in images] for path in (shared, written_apart)]
    assert np.array_equal(*outputs)


def test_a_layer_is_left_in_float_with_what_fuses_into_it(float_model_and_images):
    model, _ = float_model_and_images
    conv = ["Conv_1", "Conv_1_bn", "out_relu"]
    assert fused_group(model, "out_relu") == fused_group(model, "Conv_1") == conv
    assert feeding_groups(model, conv) == ["block_16_project", "block_16_project_BN"]
    assert fused_group(model, "predictions") == ["predictions"]


def test_float_layers_stay_float_in_the_int8_tflite_and_its_onnx_translation(float_model_and_images, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    from edge.export.onnx import int8_onnx_from_tflite
    from edge.export.tflite import int8_tflite
    from edge.runtime.backends import open_backend

    model, images = float_model_and_images
    group = ["block_16_project", "block_16_project_BN"]
    quantized = quantize(model, group)
    calibrate_ranges(quantized, images, batch_size=16)
    tflite = int8_tflite(quantized, images, group)
    interpreter = Interpreter(model_content=tflite)
    tensors = interpreter.get_tensor_details()
    float_ops = [tensors[op["outputs"][0]]["name"] for op in ops_details(interpreter)
                 if op["op_name"] == "CONV_2D" and tensors[op["outputs"][0]]["dtype"] == np.float32]  # fmt: skip
    assert len(float_ops) == 1 and "block_16_project_BN" in float_ops[0]
    assert interpreter.get_input_details()[0]["dtype"] == interpreter.get_output_details()[0]["dtype"] == np.uint8
    (tmp_path / "model.tflite").write_bytes(tflite)
    (tmp_path / "model.onnx").write_bytes(int8_onnx_from_tflite(tflite))
    expected, translated = (open_backend(tmp_path / name).run_batch(images) for name in ("model.tflite", "model.onnx"))
    # the float op's output is quantized again in each runtime, where one step of difference can carry a few
    # steps to the output: not bit-exact like the integer-only model, but the same answers (mean |Δp| measured
    # here: 1.03 output steps on the photo-like shapes)
    assert np.mean(translated.argmax(1) == expected.argmax(1)) >= 15 / 16
    assert np.abs(translated - expected).mean() <= 2 / 256

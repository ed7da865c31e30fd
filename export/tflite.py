"""TFLite conversion: float32, and full-integer int8 whose uint8 input is the raw pixels."""

from __future__ import annotations

import warnings

import numpy as np

from edge.runtime.native_stderr import native_stderr_without
from edge.train.legacy_keras import keras, tf
from edge.train.tflite import float_tflite, tflite_converter

__all__ = ["float_tflite", "int8_tflite"]


def int8_tflite(model: keras.Model, calibration: np.ndarray) -> bytes:
    """Full-integer model (integer-only ops), uint8 in and out.

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
        return converter.convert()

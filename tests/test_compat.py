"""Each private TensorFlow, tf_keras, tfmot and LiteRT API in edge.train.compat still does what edge relies on, with
the installed versions; and nothing else in edge reaches one."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import tensorflow_model_optimization as tfmot
from ai_edge_litert.interpreter import Interpreter

from edge.train import compat
from edge.train.legacy_keras import keras, tf

ROOT = Path(__file__).parent.parent
PRIVATE = re.compile(
    r"(tensorflow|tensorflow_model_optimization)\.python\.|tensorflow\.lite\.tools|__internal__|_get_ops_details"
)
rng = np.random.default_rng(0)


def _dense() -> keras.Model:
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(3, activation="relu")(inputs))


def test_installed_versions_are_the_declared_ones():
    assert {distribution for distribution, _ in compat.PRIVATE_APIS} == {
        "tf_keras", "tensorflow-model-optimization", "tensorflow", "ai-edge-litert"}  # fmt: skip
    for distribution, what in compat.PRIVATE_APIS:
        assert compat.version_warning(distribution, what) is None


def test_another_version_is_named_with_the_declared_ones():
    warning = compat.version_warning("tensorflow-model-optimization", "quant_ops", installed="0.9.0")
    assert "0.9.0 is installed" in warning and "tensorflow-model-optimization<0.9,>=0.8.1" in warning


def test_no_private_api_outside_compat():
    sources = [
        p for folder in ("edge", "runtime", "train", "export", "benchmarks") for p in (ROOT / folder).rglob("*.py")
    ]
    touching = [str(p.relative_to(ROOT)) for p in sources if PRIVATE.search(p.read_text()) and p.name != "compat.py"]
    assert touching == []


def test_base_random_layer_draws_seeded_numbers():
    class Noise(compat.BaseRandomLayer):
        def __init__(self, seed):
            super().__init__(seed=seed, force_generator=True)

        def call(self, x):
            return x + self._random_generator.random_uniform(tf.shape(x))

    x = np.zeros((2, 3), np.float32)
    first, again, other = Noise(1)(x), Noise(1)(x), Noise(2)(x)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other) and np.all((first >= 0) & (first < 1))


def test_moving_average_decay_and_range_variables():
    """Decay 0: one training call sets the input quantizer's range to that batch's."""
    quantized = tfmot.quantization.keras.quantize_model(_dense())
    x = rng.normal(size=(8, 4)).astype(np.float32)
    with compat.moving_average_decay(0.0):
        quantized(x, training=True)
    (lower,), (upper,) = compat.range_variables(quantized.layers[1])  # the input QuantizeLayer
    assert (float(lower.numpy()), float(upper.numpy())) == pytest.approx((x.min(), x.max()))


def test_quantizers_off_gives_the_float_model():
    model = _dense()
    quantized = tfmot.quantization.keras.quantize_model(model)
    x = rng.normal(size=(8, 4)).astype(np.float32)
    quantized(x, training=True)  # ranges from the data
    with compat.quantizers_off(lambda name: True):
        unrounded = quantized(x, training=False).numpy()
    np.testing.assert_allclose(unrounded, model(x).numpy(), atol=1e-6)
    assert np.abs(quantized(x, training=False).numpy() - unrounded).max() > 1e-4


def test_unsupported_layer_is_read_from_tfmots_error():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Rescaling(2.0, name="scale"), keras.layers.Dense(2)])
    with pytest.raises(RuntimeError) as refused:
        tfmot.quantization.keras.quantize_model(model)
    assert compat.unsupported_layer(refused.value) == ("scale", "Rescaling")
    assert compat.unsupported_layer(RuntimeError("something else")) is None


def test_depthwise_quantize_config_takes_a_kernel_quantizer():
    config = compat.Default8BitConvQuantizeConfig(["depthwise_kernel"], ["activation"], False)
    layer = keras.layers.DepthwiseConv2D(3)
    layer.build((1, 8, 8, 2))
    assert [weight.name for weight, _ in config.get_weights_and_quantizers(layer)] == [layer.depthwise_kernel.name]


def test_tflite_schema_io_type_rewrite_and_ops_details(tmp_path):
    converter = tf.lite.TFLiteConverter.from_keras_model(_dense())
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([rng.normal(size=(1, 4)).astype(np.float32)] for _ in range(8))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    float_io = converter.convert()
    uint8_io = compat.modify_model_io_type(float_io, tf.uint8, tf.uint8)
    model = compat.flatbuffer_utils.convert_bytearray_to_object(uint8_io)
    assert isinstance(model, compat.tflite_schema.ModelT)
    path = tmp_path / "model.tflite"
    compat.flatbuffer_utils.write_model(model, str(path))
    interpreter = Interpreter(model_path=str(path))
    assert interpreter.get_input_details()[0]["dtype"] == np.uint8
    assert "FULLY_CONNECTED" in {op["op_name"] for op in compat.ops_details(interpreter)}

"""Keras model -> TFLite flatbuffer. Training uses it to run the frozen backbone on XNNPACK (phase 1 on a CPU);
export uses it for every TFLite artifact."""

from __future__ import annotations

from .legacy_keras import keras, tf


def float_tflite(model: keras.Model) -> bytes:
    return tflite_converter(model).convert()


def tflite_converter(model: keras.Model) -> tf.lite.TFLiteConverter:
    """A converter for the model's inference function at batch 1, the way a device runs it.

    `TFLiteConverter.from_keras_model` first saves the model as a SavedModel, which takes ten times longer
    than the conversion itself; freezing the inference function directly converts the same graph.
    """
    spec = tf.TensorSpec((1, *model.input_shape[1:]), tf.float32, name="image")
    function = tf.function(lambda image: model(image, training=False)).get_concrete_function(spec)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], model)
    converter.experimental_lower_to_saved_model = False
    return converter

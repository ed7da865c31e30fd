"""Quantization-aware fine-tuning with tensorflow-model-optimization, starting from the trained float weights
rounded on data."""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import tensorflow_model_optimization as tfmot
from rich.console import Console

from edge.config import ExportConfig
from edge.runtime import EdgeError
from edge.train.compat import Default8BitConvQuantizeConfig, moving_average_decay, range_variables, unsupported_layer
from edge.train.legacy_keras import keras, tf
from edge.train.progress import keras_verbosity

from .rounding import round_weights

quantization = tfmot.quantization.keras

#: Full uint8 pixel range: pinning the input quantizer to it makes the int8 model's input raw pixels.
PIXEL_RANGE = (0.0, 255.0)


class OutputQuantizeConfig(quantization.QuantizeConfig):
    """Quantize only the output of a weightless layer tfmot has no config for, such as `Rescaling`.

    This keeps the backbone's normalisation inside the graph (so the int8 model takes raw pixels) instead of
    moving it out, which is what tfmot's "Layer rescaling is not supported" error would otherwise force.
    """

    def get_weights_and_quantizers(self, layer):
        return []

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        pass

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        return [
            quantization.quantizers.MovingAverageQuantizer(
                num_bits=8, per_axis=False, symmetric=False, narrow_range=False
            )
        ]

    def get_config(self):
        return {}


class DepthwiseWeightsQuantizer(quantization.quantizers.LastValueQuantizer):
    """Symmetric int8 per output channel of a depthwise kernel, as the TFLite converter quantizes it.

    tfmot's own quantizer takes the kernel's last axis as the channel axis, which for a depthwise kernel
    `[h, w, channels, multiplier]` is the multiplier (1): QAT then simulates one scale for the whole kernel
    while the int8 model has one per channel, and trains against an error the deployed model does not have.
    Per channel on the kernel before BatchNorm folding is exact: folding scales each channel by a constant.
    """

    def __init__(self, **kwargs):
        super().__init__(num_bits=8, per_axis=True, symmetric=True, narrow_range=True)

    def build(self, tensor_shape, name, layer):
        channels = tensor_shape[-2] * tensor_shape[-1]
        return {
            f"{bound}_var": layer.add_weight(
                f"{name}_{bound}", shape=(channels,), initializer=keras.initializers.Constant(start), trainable=False
            )
            for bound, start in (("min", -6.0), ("max", 6.0))
        }

    def __call__(self, inputs, training, weights, **kwargs):
        shape = tf.shape(inputs)
        per_channel_last = tf.reshape(inputs, [shape[0], shape[1], 1, -1])  # output channel = c * multiplier + m
        return tf.reshape(super().__call__(per_channel_last, training, weights, **kwargs), shape)

    def get_config(self):
        return {}


class DepthwiseQuantizeConfig(Default8BitConvQuantizeConfig):
    """tfmot's depthwise configuration with `DepthwiseWeightsQuantizer` for the kernel."""

    def __init__(self, weight_attrs=("depthwise_kernel",), activation_attrs=("activation",), quantize_output=False):
        super().__init__(list(weight_attrs), list(activation_attrs), quantize_output)
        self.weight_quantizer = DepthwiseWeightsQuantizer()


class QuantizeRegistry(quantization.default_8bit.Default8BitQuantizeRegistry):
    """tfmot's default registry, with `DepthwiseQuantizeConfig` for depthwise convolutions."""

    def get_quantize_config(self, layer):
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            return DepthwiseQuantizeConfig()
        return super().get_quantize_config(layer)


class QuantizeScheme(quantization.default_8bit.Default8BitQuantizeScheme):
    """tfmot's default 8-bit scheme (what TFLite runs), with depthwise kernels quantized per channel."""

    def get_quantize_registry(self):
        return QuantizeRegistry()


CUSTOM_OBJECTS = {
    "OutputQuantizeConfig": OutputQuantizeConfig,
    "DepthwiseQuantizeConfig": DepthwiseQuantizeConfig,
    "DepthwiseWeightsQuantizer": DepthwiseWeightsQuantizer,
}

UNSUPPORTED_BY_TFMOT = (keras.layers.Rescaling, keras.layers.Normalization, keras.layers.Identity)


class Distillation(keras.Model):
    """Trains `student` to give `teacher`'s answers on the same (optionally augmented) images.

    Parity is measured against the float model, so the quantized copy learns exactly that: to agree with it,
    not to fit the labels on its own. No labels are needed. Above a `temperature` of 1 both distributions
    are softened (Hinton et al.'s distillation, on log-probabilities, which are the logits up to a constant
    per image): the order of the runner-up classes, which decides the close calls, then weighs in the loss
    instead of vanishing under a confident top-1.
    """

    def __init__(self, student: keras.Model, teacher: keras.Model, augment: keras.Model | None, temperature: float = 1):
        super().__init__()
        self.student, self.teacher, self.augment, self.temperature = student, teacher, augment, temperature

    def softened(self, probabilities: tf.Tensor) -> tf.Tensor:
        return tf.nn.softmax(tf.math.log(tf.maximum(probabilities, 1e-12)) / self.temperature)

    def train_step(self, images):
        images = tf.cast(images, tf.float32)
        if self.augment is not None:
            images = self.augment(images, training=True)
        targets = self.softened(self.teacher(images, training=False))
        with tf.GradientTape() as tape:
            predictions = self.softened(self.student(images, training=True))
            loss = tf.reduce_mean(keras.losses.kl_divergence(targets, predictions)) * self.temperature**2
        variables = self.student.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return {"loss": loss}


def calibrated(
    model: keras.Model, calibration: np.ndarray, config: ExportConfig, float_layers: Collection[str] = ()
) -> keras.Model:
    """The fake-quant copy of `model` that quantization-aware training starts from: its weights rounded on
    `calibration` (`round_weights`; to nearest without `config.round_on_data`), its activation ranges set on
    `calibration`, `float_layers` left in float. Converted as it is, it is a post-training int8 model.

    Dense kernels keep round-to-nearest: tfmot quantizes them with one scale, not on the per-channel grid that
    rounding targets.
    """
    start = model
    if config.round_on_data:
        dense = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Dense)]
        start = round_weights(model, calibration, config.batch_size, skip=[*float_layers, *dense])
    quantized = quantize(start, float_layers)
    calibrate_ranges(quantized, calibration, config.batch_size)
    return quantized


def distill(
    quantized: keras.Model, model: keras.Model, images: np.ndarray, config: ExportConfig, *,
    augment: keras.Model | None, seed: int, console: Console,
) -> None:  # fmt: skip
    """Quantization-aware training of `quantized` towards `model`'s answers on `images`, in place.

    `augment` is the run's training augmentation, for models trained with it: the copy then learns on the same
    input distribution the float model was trained on.
    """
    distillation = Distillation(quantized, model, augment, config.qat_temperature)
    steps = config.qat_epochs * -(-len(images) // config.batch_size)
    # decayed to 0: the weights settle instead of stopping wherever the last batches left them, which moved
    # sign_digits' int8 agreement between 0.973 and 0.990 from one export to the next at a constant rate
    distillation.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(config.qat_lr, steps)))
    console.print(
        f"quantization-aware training: {config.qat_epochs} epoch(s) distilling the float model on {len(images)} "
        f"training images{' (augmented)' if augment is not None else ''}, learning rate {config.qat_lr:g} (cosine), "
        f"temperature {config.qat_temperature:g}"
    )
    batches = tf.data.Dataset.from_tensor_slices(images).shuffle(len(images), seed=seed).batch(config.batch_size)
    distillation.fit(batches.prefetch(tf.data.AUTOTUNE), epochs=config.qat_epochs, verbose=keras_verbosity())
    pin_input_range(quantized)  # augmentation noise leaves 0-255, and the input quantizer's range followed it


def with_weights_of(model: keras.Model, quantized: keras.Model) -> keras.Model:
    """A float copy of `model` carrying the weights that quantization-aware training left in `quantized`."""
    tuned = keras.models.clone_model(model)
    for layer in tuned.layers:
        if layer.weights:
            trained = {w.name.split("/")[-1]: w for w in quantized.get_layer(f"quant_{layer.name}").weights}
            layer.set_weights([trained[w.name.split("/")[-1]].numpy() for w in layer.weights])
    return tuned


def quantize(model: keras.Model, float_layers: Collection[str] = ()) -> keras.Model:
    """`quantize_apply` on a copy of the flat model carrying its trained weights, `float_layers` left out.

    In the copy every layer learns except BatchNorm, which stays frozen and so in inference mode, as in
    phase 2 of training. Dropout is off: the copy runs in training mode to calibrate and learn its ranges, and
    with units dropped at random (the survivors scaled up) the ranges behind the head would describe a network
    that never runs; clothing seed 1's calibrated int8 TFLite agreed with Keras on 0.9853 of the validation
    images with it, 0.9912 without.
    """

    def annotate(layer):
        config = layer.get_config() | ({"rate": 0.0} if isinstance(layer, keras.layers.Dropout) else {})
        clone = layer.__class__.from_config(config)
        clone.trainable = not isinstance(clone, keras.layers.BatchNormalization)
        if layer.name in float_layers:
            return clone
        if isinstance(clone, UNSUPPORTED_BY_TFMOT):
            return quantization.quantize_annotate_layer(clone, quantize_config=OutputQuantizeConfig())
        return quantization.quantize_annotate_layer(clone)

    with quantization.quantize_scope(CUSTOM_OBJECTS):
        annotated = keras.models.clone_model(model, clone_function=annotate)
        annotated.set_weights(model.get_weights())
        try:
            quantized = quantization.quantize_apply(annotated, QuantizeScheme())
        except RuntimeError as error:
            if (unsupported := unsupported_layer(error)) is None:
                raise
            layer, kind = unsupported
            raise EdgeError(
                f"quantization-aware training cannot quantize layer {layer} ({kind}) of {model.name}: "
                "export with --ptq (post-training int8) instead, or train efficientnet_lite0 or mobilenet_v2"
            ) from None
    pin_input_range(quantized)
    return quantized


def fused_group(model: keras.Model, name: str) -> list[str]:
    """The layers that quantize as one op with layer `name`: a convolution or dense layer and the BatchNorm and
    activation after it, whichever of them is named (the converter names the fused op after the last)."""
    try:
        layer = model.get_layer(name)
    except ValueError:
        raise EdgeError(f"--keep-float {name}: {model.name} has no such layer") from None
    while isinstance(layer, FUSED_AFTER) and isinstance(_input_of(layer), (*FUSED_AFTER, *FUSED_INTO)):
        layer = _input_of(layer)
    group = [layer]
    while len(consumers := _consumers_of(group[-1])) == 1 and isinstance(consumers[0], FUSED_AFTER):
        group.append(consumers[0])
    return [member.name for member in group]


FUSED_INTO = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)
FUSED_AFTER = (keras.layers.BatchNormalization, keras.layers.ReLU, keras.layers.Activation)


def feeding_groups(model: keras.Model, group: list[str]) -> list[str]:
    """The fused groups of the layers feeding `group`: leaving a layer in float does not un-round its input,
    which its feeding layer still writes in int8 (an activation range blown by one channel breaks the layer
    that reads it, not the one that writes it)."""
    feeders = _input_of(model.get_layer(group[0]))
    feeders = feeders if isinstance(feeders, list) else [feeders]
    return [member for feeder in feeders if not isinstance(feeder, keras.layers.InputLayer)
            for member in fused_group(model, feeder.name)]  # fmt: skip


def _input_of(layer: keras.layers.Layer) -> keras.layers.Layer | list[keras.layers.Layer]:
    return layer.inbound_nodes[0].inbound_layers


def _consumers_of(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    return [node.outbound_layer for node in layer.outbound_nodes]


def pin_input_range(quantized: keras.Model) -> None:
    """Set the input QuantizeLayer's range to all pixel values, so that the int8 model's input is raw pixels.

    Any other range costs a requantization of every image before the first integer op.
    """
    for layer in quantized.layers:
        if isinstance(layer, quantization.QuantizeWrapperV2):
            continue
        lower, upper = range_variables(layer)
        for variable in lower:
            variable.assign(PIXEL_RANGE[0])
        for variable in upper:
            variable.assign(PIXEL_RANGE[1])


def calibrate_ranges(quantized: keras.Model, images: np.ndarray, batch_size: int) -> None:
    """Set every activation range to the mean of its per-batch ranges on `images`.

    tfmot starts each range at [-6, 6] and moves it by an exponential moving average with a hard-coded decay
    of 0.999, so a short fine-tuning (a few hundred steps) never forgets that start and the int8 model loses
    accuracy. Averaging real ranges first makes QAT start where post-training quantization would.
    """
    for step, start in enumerate(range(0, len(images), batch_size)):
        with moving_average_decay(step / (step + 1)):  # the running mean of the batch ranges
            quantized(images[start : start + batch_size].astype(np.float32), training=True)

"""Weight rounding chosen on data: each int8 kernel rounded up or down, weight by weight, so that the layer
reproduces its float output on calibration images, instead of the converter's round-to-nearest.

Why (benchmarks/results/int8_parity.md): round-to-nearest is optimal per weight but not per output. MobileNetV2's
first depthwise layer has high-pass 3x3 filters (weights summing to about 0) reading ReLU6 outputs with a large
mean: the rounding errors of a filter's nine weights no longer cancel, and their sum times that mean is about
half of the int8 model's error on clothing seed 42 (with that one kernel in float, the error on the validation
answers' margins falls from 0.84 to 0.46). Choosing each channel's rounding to minimise its output error on
real inputs (the objective of AdaRound, Nagel et al. 2020, solved greedily) halves that error over the whole
network.

The kernels are left on the converter's own grid (symmetric, narrow range, one scale per output channel, the
largest weight at +-127), so the converter's rounding keeps them exactly: BatchNorm folding scales each output
channel's weights and grid alike.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from edge.train.legacy_keras import keras, tf

ROUNDED = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)
POSITIONS_PER_BATCH = 2048  #: input positions per layer and batch that the output-error statistics use


def round_weights(model: keras.Model, images: np.ndarray, batch_size: int, skip: Collection[str] = ()) -> keras.Model:
    """A copy of `model` whose convolution and dense kernels (except `skip`) lie on their int8 grid, each
    channel rounded to minimise its output error on `images`."""
    layers = [layer for layer in model.layers if isinstance(layer, ROUNDED)]
    # measured for every layer, skipped or not, so that a layer's rounding does not depend on what is skipped
    moments = _input_moments(model, layers, images, batch_size)
    rounded = keras.models.clone_model(model)
    rounded.set_weights(model.get_weights())
    for layer, moment in zip(layers, moments, strict=True):
        if layer.name in skip:
            continue
        target = rounded.get_layer(layer.name)
        kernel, *rest = target.get_weights()
        outputs = kernel.shape[-1]
        if isinstance(layer, keras.layers.DepthwiseConv2D):  # output channel = channel x multiplier, as TFLite's
            outputs *= kernel.shape[-2]
            moment = np.repeat(moment, kernel.shape[-1], axis=0)
        rows = kernel.reshape(-1, outputs).T.astype(np.float64)  # one per output channel, in the window's order
        target.set_weights([best_rounding(rows, moment).T.reshape(kernel.shape).astype(kernel.dtype), *rest])
    return rounded


def best_rounding(rows: np.ndarray, moment: np.ndarray) -> np.ndarray:
    """`rows` (one per output channel) on their grids, each rounded to minimise `d·M·d`, the mean squared output
    error for the rounding error `d` and the inputs' second moment `M` (one shared `[n, n]`, or `[rows, n, n]`).

    Greedy: from round-to-nearest, flip the one weight per row that lowers the error most, until none does.
    """
    step = np.abs(rows).max(axis=1, keepdims=True) / 127
    step[step == 0] = 1.0
    scaled = rows / step
    grid = np.round(scaled)
    movable = np.abs(scaled - grid) > 1e-6  # the largest weight sits exactly on +-127 and stays there
    error = (grid - scaled) * step
    shared = moment.ndim == 2
    gradient = error @ moment if shared else np.einsum("rij,rj->ri", moment, error)  # half of d(dMd)/dd
    diagonal = np.diag(moment)[None] if shared else np.einsum("rii->ri", moment)
    index = np.arange(len(rows))
    for _ in range(2 * rows.shape[1]):
        flip = np.where(grid > scaled, -step, step)  # to the other grid point around the weight
        gain = np.where(movable, 2 * flip * gradient + flip**2 * diagonal, np.inf)
        best = gain.argmin(axis=1)
        better = gain[index, best] < 0
        if not better.any():
            break
        row, column = index[better], best[better]
        change = flip[row, column]
        grid[row, column] += np.sign(change)
        gradient[row] += change[:, None] * (moment[column] if shared else moment[row, :, column])
    return grid * step


def _input_moments(model: keras.Model, layers: list, images: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Per layer, the second moment of the inputs each output sees: `[n, n]` over a kernel's whole window for
    convolutions and dense layers, `[channels, k*k, k*k]` per channel for depthwise ones. Streams `images` in
    batches, so memory does not grow with their number."""
    inputs = keras.Model(model.input, [layer.input for layer in layers])
    rng = np.random.default_rng(0)
    sums: list[np.ndarray | float] = [0.0] * len(layers)
    counts = [0] * len(layers)
    for start in range(0, len(images), batch_size):
        batch = inputs(images[start : start + batch_size].astype(np.float32), training=False)
        for i, (layer, values) in enumerate(zip(layers, batch if len(layers) > 1 else [batch], strict=True)):
            windows = _windows(values, layer)
            windows = windows[rng.permutation(len(windows))[:POSITIONS_PER_BATCH]].astype(np.float64)
            if isinstance(layer, keras.layers.DepthwiseConv2D):
                sums[i] += np.einsum("sic,sjc->cij", windows, windows)
            else:
                flat = windows.reshape(len(windows), -1)
                sums[i] += flat.T @ flat
            counts[i] += len(windows)
    return [total / count for total, count in zip(sums, counts, strict=True)]


def _windows(values: tf.Tensor, layer: keras.layers.Layer) -> np.ndarray:
    """`[positions, k*k, channels]`: the input window of every output position, in the kernel's (row, column,
    channel) order."""
    if isinstance(layer, keras.layers.Dense) or layer.kernel_size == (1, 1) and layer.strides == (1, 1):
        return values.numpy().reshape(-1, 1, values.shape[-1])
    (kh, kw), (sh, sw), (dh, dw) = layer.kernel_size, layer.strides, layer.dilation_rate
    windows = tf.image.extract_patches(values, [1, kh, kw, 1], [1, sh, sw, 1], [1, dh, dw, 1], layer.padding.upper())
    return windows.numpy().reshape(-1, kh * kw, values.shape[-1])

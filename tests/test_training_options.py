"""Training options that change the graph or the numerics: mixed precision, L2, label smoothing, schedules."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from rich.console import Console

from edge.demo import make_shapes
from edge.train import TrainConfig, train
from edge.train.legacy_keras import keras
from edge.train.run import open_run


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    root = tmp_path_factory.mktemp("options")
    make_shapes(root, 6, seed=0)
    return root


CONV = keras.layers.Conv2D


@pytest.fixture
def fits(monkeypatch):
    """What each training phase's Model.fit ran with: recorded from the model as fit leaves it, so an option
    that never reaches Keras shows here."""
    seen, fit = [], keras.Model.fit

    def recording(model, *args, **kwargs):
        history = fit(model, *args, **kwargs)
        optimizer, schedule = model.optimizer, model.optimizer.learning_rate
        seen.append({
            "conv_dtypes": {layer.compute_dtype for layer in model.submodules if isinstance(layer, CONV)},
            "loss_scaled": isinstance(optimizer, keras.mixed_precision.LossScaleOptimizer),
            "label_smoothing": model.loss.get_config()["label_smoothing"],
            "steps": int(optimizer.iterations),
            "last_lr": float(schedule(optimizer.iterations - 1) if callable(schedule) else schedule),
            "callbacks": {type(callback).__name__ for callback in kwargs.get("callbacks") or []},
        })  # fmt: skip
        return history

    monkeypatch.setattr(keras.Model, "fit", recording)
    return seen


def _train(shapes, out, **options):
    config = TrainConfig(shapes, out=out, alpha=0.35, image_size=96, weights="none", epochs=2, fine_tune_epochs=1,
                         **options)  # fmt: skip
    return train(config, Console(quiet=True))


def test_mixed_precision_trains_in_float16_and_saves_a_float32_model(shapes, tmp_path, fits):
    run = _train(shapes, tmp_path / "run", mixed_precision="on")
    assert [(fit["conv_dtypes"], fit["loss_scaled"]) for fit in fits] == [({"float16"}, True)]
    _, model = open_run(run)
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    assert keras.mixed_precision.global_policy().name == "float32"  # the policy does not leak
    probabilities = model.predict(np.full((1, 96, 96, 3), 128, np.float32), verbose=0)
    assert probabilities.dtype == np.float32 and np.isclose(probabilities.sum(), 1, atol=1e-5)
    assert json.loads((run / "edge.json").read_text())["training"]["mixed_precision"] == "on"


@pytest.mark.parametrize("schedule", ["cosine", "plateau", "constant"])
def test_regularised_head_and_each_schedule_train(shapes, tmp_path, fits, schedule):
    run = _train(shapes, tmp_path / "run", l2=1e-3, label_smoothing=0.1, schedule=schedule, lr=1e-3)
    _, model = open_run(run)
    assert model.get_layer("predictions").kernel_regularizer.get_config()["l2"] == pytest.approx(1e-3)
    history = (run / "history.csv").read_text().splitlines()
    assert len(history) == 1 + 2 + 1  # header, then from random weights one phase of epochs + fine-tune epochs
    (fit,) = fits
    assert fit["conv_dtypes"] == {"float32"} and not fit["loss_scaled"]
    assert fit["label_smoothing"] == pytest.approx(0.1)
    if schedule == "cosine":  # decays to zero over the phase's steps: the last step is one step short of it
        assert fit["last_lr"] == pytest.approx(1e-3 * (1 + math.cos(math.pi * (fit["steps"] - 1) / fit["steps"])) / 2)
    elif schedule == "plateau":  # divided by 5 each time validation loss stalls (these random-weight runs do)
        assert any(fit["last_lr"] == pytest.approx(1e-3 * 0.2**k) for k in range(1, 3))
    else:
        assert fit["last_lr"] == pytest.approx(1e-3)
    assert ("ReduceLROnPlateau" in fit["callbacks"]) == (schedule == "plateau")

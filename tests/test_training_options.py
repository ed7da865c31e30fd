"""Training options that change the graph or the numerics: mixed precision, L2, label smoothing, schedules."""

from __future__ import annotations

import json

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


def _train(shapes, out, **options):
    config = TrainConfig(shapes, out=out, alpha=0.35, image_size=96, weights="none", epochs=2, fine_tune_epochs=1,
                         **options)  # fmt: skip
    return train(config, Console(quiet=True))


def test_mixed_precision_trains_in_float16_and_saves_a_float32_model(shapes, tmp_path):
    run = _train(shapes, tmp_path / "run", mixed_precision="on")
    _, model = open_run(run)
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    assert keras.mixed_precision.global_policy().name == "float32"  # the policy does not leak
    probabilities = model.predict(np.full((1, 96, 96, 3), 128, np.float32), verbose=0)
    assert probabilities.dtype == np.float32 and np.isclose(probabilities.sum(), 1, atol=1e-5)
    assert json.loads((run / "edge.json").read_text())["training"]["mixed_precision"] == "on"


@pytest.mark.parametrize("schedule", ["cosine", "plateau", "constant"])
def test_regularised_head_and_each_schedule_train(shapes, tmp_path, schedule):
    run = _train(shapes, tmp_path / "run", l2=1e-3, label_smoothing=0.1, schedule=schedule)
    _, model = open_run(run)
    assert model.get_layer("predictions").kernel_regularizer.get_config()["l2"] == pytest.approx(1e-3)
    history = (run / "history.csv").read_text().splitlines()
    assert len(history) == 1 + 2 + 1  # header, then from random weights one phase of epochs + fine-tune epochs

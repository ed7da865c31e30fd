"""Fixtures: caches isolated from the user's, and a tiny real run shared by the runtime and CLI tests."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def isolated_caches(tmp_path_factory):
    """Prepared-image and Keras caches in a temp folder: tests neither read nor fill the user's."""
    root = tmp_path_factory.mktemp("caches")
    saved = {key: os.environ.get(key) for key in ("EDGE_CACHE_DIR", "KERAS_HOME")}
    os.environ["EDGE_CACHE_DIR"] = str(root / "edge")
    os.environ["KERAS_HOME"] = str(root / "keras")
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A real run on a few generated shapes: one epoch from random weights, float and PTQ int8 exported."""
    from rich.console import Console

    from edge.demo import make_shapes
    from edge.export import ExportConfig, export
    from edge.train import TrainConfig, train

    root = tmp_path_factory.mktemp("tiny")
    make_shapes(root / "data", 10, seed=0)
    make_shapes(root / "samples", 1, seed=1)
    quiet = Console(quiet=True)
    config = TrainConfig(
        root / "data", out=root / "run", alpha=0.35, image_size=96, weights="none", epochs=1, fine_tune_epochs=0
    )
    run = train(config, quiet)
    export(ExportConfig(run, ptq=True, calibration_images=16), quiet)
    return run

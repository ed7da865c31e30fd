"""Fixtures: caches isolated from the user's, and a tiny real run shared by the runtime and CLI tests."""

from __future__ import annotations

import os

import pytest

from .helpers import MOBILENET_035, run_edge, shared_path


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
        root / "data", out=root / "run", alpha=0.35, image_size=96, weights="none", epochs=1, fine_tune_epochs=0,
        class_weights="auto",
    )  # fmt: skip
    run = train(config, quiet)
    export(ExportConfig(run, ptq=True, calibration_images=16, parity_gate=False), quiet)  # barely trained: no gate
    return run


@pytest.fixture(scope="session")
def sign_digits_run(tmp_path_factory):
    """sign_digits (real photos) with the real MobileNetV2 alpha 0.35 weights at 96 px, then `edge export --int8`
    with the parity gate on: what the end-to-end and parity tests check.

    Hand signs are far from ImageNet, so this is the README's recipe for such data: phase 2 over the whole
    backbone (at the default 1e-4, with the default augmentation but no mirroring) for up to 20 epochs.
    Fine-tuning only the top 30% at the Keras guide's 1e-5 gave ~0.89, with int8 copies keeping only ~0.95 of its
    answers; mirrored hand signs cost ~2 points and int8 agreement.
    """
    data = shared_path("data/sign_digits")
    weights = shared_path(f"weights/{MOBILENET_035}")
    run = tmp_path_factory.mktemp("sign_digits") / "run"
    trained = run_edge("train", data, "--alpha", "0.35", "--image-size", "96", "--weights", weights,
                       "--fine-tune-at", "block_1_expand", "--no-flip", "--fine-tune-epochs", "20", "--patience", "5",
                       "--out", run)  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-3000:]
    exported = run_edge("export", run, "--int8")
    assert exported.returncode == 0, exported.stderr[-3000:]  # the default path passes its own parity gate
    return run


@pytest.fixture(scope="session")
def float_model_and_images(tmp_path_factory):
    """MobileNetV2 alpha 0.35 at 96 px with the real ImageNet weights and a head trained on a few shapes: a
    real backbone for the quantization tests, confident enough that int8 differences show."""
    from edge.demo import make_shapes
    from edge.runtime.datasets import load_dataset
    from edge.train.backbones import get_backbone
    from edge.train.legacy_keras import keras
    from edge.train.model import build_classifier, freeze_backbone
    from edge.train.weights import Weights

    root = tmp_path_factory.mktemp("shapes")
    make_shapes(root, 16, seed=3)
    train = load_dataset(root, 96).train
    weights = Weights(shared_path(f"weights/{MOBILENET_035}"), "file")
    keras.utils.set_random_seed(0)
    model = build_classifier(get_backbone("mobilenet_v2", 0.35), 4, 96, 0.35, weights, dropout=0.2)
    freeze_backbone(model)
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    model.fit(train.x, train.y, epochs=5, verbose=0)
    return model, train.x

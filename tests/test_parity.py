"""Parity on real photos: every format passes the default gate, and the gate can fail."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from edge.runtime import Classifier, Manifest
from edge.runtime.files import atomic_write_bytes, sha256_file

from .helpers import run_edge

pytestmark = pytest.mark.slow

FORMATS = ("model_float.tflite", "model.onnx", "model_int8.tflite", "model_int8.onnx")


def test_float_and_int8_tflite_pass_the_default_thresholds_and_int8_onnx_is_close(sign_digits_run):
    """int8 ONNX (onnxruntime's own static quantization of the QAT-tuned weights) is not held to the gate: it
    passed it in some runs (agreement 0.985) and missed it by a few images in others (drop 1.7 points,
    agreement 0.973), which the gate then reports; it must stay within 3 points and 95% agreement."""
    report = json.loads((sign_digits_run / "export/parity.json").read_text())
    print(json.dumps([{k: row.get(k) for k in ("artifact", "accuracy", "agreement", "max_prob_diff")}
                      for row in report["rows"]], indent=1))  # fmt: skip
    rows = {row["artifact"].removeprefix("export/"): row for row in report["rows"][1:]}
    assert sorted(rows) == sorted(FORMATS)
    for name in ("model_float.tflite", "model.onnx", "model_int8.tflite"):
        assert not rows[name]["breaches"], (name, rows[name]["breaches"])
    onnx_int8 = rows["model_int8.onnx"]
    assert onnx_int8["agreement"] >= 0.95 and onnx_int8["accuracy"] >= report["rows"][0]["accuracy"] - 0.03
    result = run_edge("parity", sign_digits_run, "--json")
    assert result.returncode == (0 if not onnx_int8["breaches"] else 1)
    assert json.loads(result.stdout)["passed"] == (not onnx_int8["breaches"])


def test_float_onnx_and_float_tflite_agree_on_every_image(sign_digits_run):
    from edge.train.run import dataset_of

    manifest = Manifest.load(sign_digits_run / "edge.json")
    images = dataset_of(manifest).validation.x
    tflite = Classifier(sign_digits_run / "export/model_float.tflite")
    onnx = Classifier(sign_digits_run / "export/model.onnx")
    a = np.stack([tflite.probabilities(x) for x in images])
    b = np.stack([onnx.probabilities(x) for x in images])
    assert np.array_equal(a.argmax(1), b.argmax(1)) and np.abs(a - b).max() < 1e-4


def test_onnx_models_take_the_same_uint8_pixels_and_give_the_same_top_1(sign_digits_run):
    from edge.train.run import dataset_of

    manifest = Manifest.load(sign_digits_run / "edge.json")
    paths = dataset_of(manifest).validation.paths[::20]
    for onnx_model, tflite_model in (("model.onnx", "model_float.tflite"), ("model_int8.onnx", "model_int8.tflite")):
        onnx = Classifier(sign_digits_run / "export" / onnx_model)
        assert onnx.backend.input_dtype == np.uint8
        tflite = Classifier(sign_digits_run / "export" / tflite_model)
        same = np.mean([onnx.predict(p, 1)[0].index == tflite.predict(p, 1)[0].index for p in paths])
        assert same >= (1.0 if onnx_model == "model.onnx" else 0.9)


@pytest.fixture
def run_copy(sign_digits_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(sign_digits_run, copy)
    return copy


def test_a_worse_int8_model_with_an_updated_hash_fails_the_gate_by_name(run_copy):
    from edge.export.tflite import int8_tflite
    from edge.train.legacy_keras import keras
    from edge.train.run import dataset_of

    manifest = Manifest.load(run_copy / "edge.json")
    model = keras.models.load_model(run_copy / "model.keras")
    head = model.get_layer("predictions")
    kernel, bias = head.get_weights()
    head.set_weights([kernel + np.random.default_rng(0).normal(0, kernel.std() * 2, kernel.shape), bias])
    worse = run_copy / "export/model_int8.tflite"
    atomic_write_bytes(worse, int8_tflite(model, dataset_of(manifest).train.x[:64]))
    manifest.artifact("export/model_int8.tflite").sha256 = sha256_file(worse)
    manifest.save(run_copy / "edge.json")
    result = run_edge("parity", run_copy)
    assert result.returncode == 1
    verdict = result.stderr.strip().splitlines()[-1]
    assert verdict.startswith("parity gate failed: model_int8.tflite (")
    assert "model_float.tflite" not in verdict and "model.onnx" not in verdict  # the float models still pass


def test_a_tampered_artifact_without_a_hash_update_is_refused(run_copy):
    tampered = run_copy / "export/model_int8.onnx"
    tampered.write_bytes(tampered.read_bytes() + b"\0")
    result = run_edge("parity", run_copy)
    assert result.returncode == 2 and "sha256 does not match" in result.stderr

"""The whole job on real photos: edge train -> edge export --int8 -> edge infer, with the defaults.

sign_digits (2,062 photos of hand signs, 10 classes) with the real MobileNetV2 alpha 0.35 ImageNet weights at
96 px. Measured here: Keras 0.891, float TFLite 0.891, int8 QAT 0.878 (0.871-0.893 over QAT seeds) validation
accuracy; the floors below leave about 3 points for run-to-run variation.
"""

from __future__ import annotations

import json

import pytest

from edge.runtime import Classifier, Manifest

from .helpers import MOBILENET_035, run_edge, shared_path

FLOOR = {"keras": 0.86, "float": 0.86, "int8": 0.85}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    data = shared_path("data/sign_digits")
    weights = shared_path(f"weights/{MOBILENET_035}")
    run = tmp_path_factory.mktemp("e2e") / "sign_digits"
    trained = run_edge("train", data, "--alpha", "0.35", "--image-size", "96", "--weights", weights, "--out", run)
    assert trained.returncode == 0, trained.stderr[-3000:]
    exported = run_edge("export", run, "--int8")
    assert exported.returncode == 0, exported.stderr[-3000:]
    return run


@pytest.mark.slow
def test_accuracies_through_the_runtime_meet_the_floors(run):
    manifest = Manifest.load(run / "edge.json")
    accuracy = {a.method: a.metrics["accuracy"] for a in manifest.artifacts}
    print(f"validation accuracy on {manifest.data['validation']} images: {accuracy}")
    assert accuracy["trained"] >= FLOOR["keras"]
    assert accuracy["float"] >= FLOOR["float"] and abs(accuracy["float"] - accuracy["trained"]) < 0.005
    assert accuracy["qat"] >= FLOOR["int8"] and accuracy["qat"] >= accuracy["float"] - 0.02
    int8 = manifest.artifact("export/model_int8.tflite")
    assert (
        int8.precision == "int8"
        and int8.metrics["size_bytes"] < 0.45 * manifest.artifact("export/model_float.tflite").metrics["size_bytes"]
    )
    assert json.loads((run / "metrics.json").read_text())["validation"]["accuracy"] == accuracy["trained"]
    assert (run / "labels.txt").read_text().split() == manifest.labels == [str(d) for d in range(10)]
    assert (run.parent / "latest").resolve() == run.resolve()


@pytest.mark.slow
def test_edge_infer_gives_the_classifier_s_answers(run):
    data = shared_path("data/sign_digits")
    photos = [sorted((data / digit).glob("*"))[0] for digit in ("3", "7")]
    model = run / "export/model_int8.tflite"
    result = run_edge("infer", model, *photos, "--json")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    classifier = Classifier(model)
    for row, photo in zip(rows, photos, strict=True):
        assert row["image"] == str(photo)
        assert [entry["label"] for entry in row["top_k"]] == [p.label for p in classifier.predict(photo)]

"""MediaPipe Tasks, the runtime Android, iOS, web and Python apps reach for, runs edge's TFLite models from their
metadata alone: label names, input image, normalisation. It runs in a venv of its own, as an app would."""

from __future__ import annotations

import json
import subprocess

import pytest

from edge.runtime import Classifier

from .helpers import MEDIAPIPE_PYTHON, REPO, shared_path, skip_unless_ci

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("model", ["model_float.tflite", "model_int8.tflite"])
def test_mediapipe_image_classifier_gives_edges_labels_and_answers(sign_digits_run, model):
    """Same top-1 as `edge infer` on every sign_digits photo but a few: MediaPipe decodes and resizes the photo
    itself, and that skew is what an Android app meets (benchmarks/results/mediapipe.md)."""
    if not MEDIAPIPE_PYTHON.exists():
        skip_unless_ci(f"no {MEDIAPIPE_PYTHON}: `make test` makes MediaPipe's venv")
    path = sign_digits_run / "export" / model
    photos = sorted(shared_path("data/sign_digits").rglob("*.JPG"))
    client = [MEDIAPIPE_PYTHON, REPO / "benchmarks/mediapipe_client.py", path, *photos]
    result = subprocess.run(client, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    answers = json.loads(result.stdout)
    classifier = Classifier(path)
    assert set(answers) <= set(classifier.labels)  # the label names, from the model's metadata
    edge = [top[0].label for top in classifier.predict_batch(photos, top_k=1)]
    same = sum(theirs == ours for theirs, ours in zip(answers, edge, strict=True))
    print(f"{model}: MediaPipe's top-1 is edge's on {same}/{len(photos)} sign_digits photos ({same / len(photos):.4f})")
    assert same >= 0.98 * len(photos)

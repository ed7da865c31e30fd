"""MediaPipe Tasks, the runtime Android, iOS, web and Python apps reach for, runs edge's TFLite models from their
metadata alone: label names, input image, normalisation."""

from __future__ import annotations

import pytest

from edge.runtime import Classifier, Manifest

from .helpers import shared_path

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("model", ["model_float.tflite", "model_int8.tflite"])
def test_mediapipe_image_classifier_gives_edges_labels_and_answers(sign_digits_run, model):
    """Same top-1 as `edge infer` on every sign_digits photo but a few: MediaPipe resizes the photo itself,
    without edge's JPEG draft decoding, and that skew is what an Android app meets."""
    import mediapipe
    from mediapipe.tasks.python import BaseOptions
    from mediapipe.tasks.python.vision import ImageClassifier, ImageClassifierOptions

    path = sign_digits_run / "export" / model
    photos = sorted(shared_path("data/sign_digits").rglob("*.JPG"))
    edge_answers = [top[0].label for top in Classifier(path).predict_batch(photos, top_k=1)]
    options = ImageClassifierOptions(base_options=BaseOptions(model_asset_path=str(path)), max_results=1)
    with ImageClassifier.create_from_options(options) as classifier:
        answers = [classifier.classify(mediapipe.Image.create_from_file(str(photo))).classifications[0].categories[0]
                   for photo in photos]  # fmt: skip
    assert {answer.category_name for answer in answers} <= set(Manifest.load(sign_digits_run / "edge.json").labels)
    same = sum(answer.category_name == label for answer, label in zip(answers, edge_answers, strict=True))
    print(f"{model}: MediaPipe's top-1 is edge's on {same}/{len(photos)} sign_digits photos ({same / len(photos):.4f})")
    assert same >= 0.98 * len(photos)

"""The runtime on real exported models: Classifier, manifest checks, and no TensorFlow on the device path."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge.runtime import Classifier, ImageError, Manifest, ManifestError, ModelError, load_image


def test_classifier_scores_are_probabilities_and_sorted(tiny_run):
    classifier = Classifier(tiny_run / "export/model_float.tflite")
    sample = next((tiny_run.parent / "samples").rglob("*.jpg"))
    predictions = classifier.predict(sample, top_k=3)
    assert [p.label for p in predictions] == [classifier.labels[p.index] for p in predictions]
    assert predictions[0].score >= predictions[1].score >= predictions[2].score
    assert abs(classifier.probabilities(sample).sum() - 1) < 1e-4


def test_int8_model_takes_raw_pixels(tiny_run):
    """(How closely int8 tracks float is measured on a real model: tests/test_parity.py.)"""
    detail = Classifier(tiny_run / "export/model_int8.tflite").backend._input
    assert detail["dtype"] == np.uint8 and detail["quantization"] == (1.0, 0)


def test_path_pil_and_array_inputs_give_the_same_result(tiny_run):
    classifier = Classifier(tiny_run / "export/model_int8.tflite")
    sample = next((tiny_run.parent / "samples").rglob("*.jpg"))
    expected = classifier.probabilities(sample)
    assert np.array_equal(expected, classifier.probabilities(Image.open(sample)))
    assert np.array_equal(expected, classifier.probabilities(load_image(sample, classifier.input_size)))


@pytest.mark.parametrize("model", ["model_int8.tflite", "model_int8.onnx"])
def test_predict_batch_matches_one_image_at_a_time(tiny_run, model):
    classifier = Classifier(tiny_run / "export" / model)
    samples = sorted((tiny_run.parent / "samples").rglob("*.jpg"))
    one_by_one = np.stack([classifier.probabilities(sample) for sample in samples])
    arrays = np.stack([load_image(sample, classifier.input_size) for sample in samples])
    assert np.allclose(classifier.probabilities_batch(arrays), one_by_one, atol=1e-6)
    assert np.allclose(classifier.probabilities_batch(samples), one_by_one, atol=1e-6)  # paths, decoded for it
    batch = classifier.predict_batch(arrays, top_k=2)
    assert [row[0].label for row in batch] == [classifier.predict(sample, 1)[0].label for sample in samples]


def test_predict_each_keeps_order_and_yields_errors_in_place(tiny_run, tmp_path):
    classifier = Classifier(tiny_run / "export/model_int8.tflite")
    samples = sorted((tiny_run.parent / "samples").rglob("*.jpg"))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(samples[0].read_bytes()[:300])
    images = [*samples, broken, *samples] * 2  # more than the look-ahead of 2 x workers
    results = list(classifier.predict_each(images, top_k=2, workers=2))
    assert len(results) == len(images)
    for image, result in zip(images, results, strict=True):
        if image == broken:
            assert isinstance(result, ImageError) and str(result).startswith(str(broken))
        else:
            assert result == classifier.predict(image, top_k=2)


def test_manifest_is_found_beside_the_model(tiny_run, tmp_path):
    (tmp_path / "model.tflite").write_bytes((tiny_run / "export/model_int8.tflite").read_bytes())
    (tmp_path / "edge.json").write_bytes((tiny_run / "edge.json").read_bytes())
    assert Classifier(tmp_path / "model.tflite").labels == Manifest.load(tiny_run / "edge.json").labels


def test_a_changed_model_file_is_refused_unless_verification_is_off(tiny_run, tmp_path):
    run = tmp_path / "run"
    (run / "export").mkdir(parents=True)
    (run / "edge.json").write_bytes((tiny_run / "edge.json").read_bytes())
    tampered = run / "export/model_int8.tflite"
    tampered.write_bytes((tiny_run / "export/model_float.tflite").read_bytes())
    Classifier(tampered)  # a byte-identical copy of a listed artifact is recognised by its hash
    tampered.write_bytes(tampered.read_bytes() + b"\0")
    with pytest.raises(ManifestError, match="sha256 does not match"):
        Classifier(tampered)
    Classifier(tampered, verify=False)


def test_manifest_that_does_not_fit_the_model_is_refused(tiny_run, tmp_path):
    model = tmp_path / "model_float.tflite"
    model.write_bytes((tiny_run / "export/model_float.tflite").read_bytes())
    manifest = json.loads((tiny_run / "edge.json").read_text())
    manifest["labels"] = manifest["labels"][:-1]
    (tmp_path / "edge.json").write_text(json.dumps(manifest))
    with pytest.raises(ManifestError, match="outputs but the manifest lists"):
        Classifier(model)
    manifest["format_version"] = 99
    (tmp_path / "edge.json").write_text(json.dumps(manifest))
    with pytest.raises(ManifestError, match="format version 99"):
        Classifier(model)


@pytest.mark.parametrize("content, message", [(b"", "empty"), (b"\0" * 64, "not a TFLite model")])
def test_broken_model_files_are_refused_before_litert_sees_them(tiny_run, tmp_path, content, message):
    model = tmp_path / "model.tflite"
    model.write_bytes(content)
    (tmp_path / "edge.json").write_bytes((tiny_run / "edge.json").read_bytes())
    with pytest.raises(ModelError, match=message):
        Classifier(model, verify=False)


@pytest.mark.parametrize(
    ("command", "model"), [("infer", "model_int8.tflite"), ("infer", "model_int8.onnx"), ("eval", "model.onnx")]
)
def test_runtime_infer_and_eval_never_import_tensorflow(tiny_run, command, model):
    samples = tiny_run.parent / "samples"
    target = samples if command == "eval" else next(samples.rglob("*.jpg"))
    script = (
        "import sys\n"
        "import edge.runtime\n"
        "assert 'tensorflow' not in sys.modules, 'import edge.runtime'\n"
        "from edge.cli import main\n"
        f"sys.argv = ['edge', {command!r}, {str(tiny_run / 'export' / model)!r}, {str(target)!r}]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 0, exit.code\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tf_keras', 'keras'))\n"
        "assert not heavy, heavy[:5]\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "top-1" in result.stdout or "balanced accuracy" in result.stdout


def test_onnx_models_run_through_onnxruntime_with_uint8_input(tiny_run):
    sample = next((tiny_run.parent / "samples").rglob("*.jpg"))
    onnx = Classifier(tiny_run / "export/model.onnx", threads=1)
    tflite = Classifier(tiny_run / "export/model_float.tflite")
    assert onnx.backend.input_dtype == np.uint8 and onnx.labels == tflite.labels
    assert np.abs(onnx.probabilities(sample) - tflite.probabilities(sample)).max() < 1e-4


def test_int8_onnx_is_qdq_with_uint8_activations_and_int8_weights(tiny_run):
    """onnxruntime's x86 kernels want uint8 activations; TFLite's int8 ones are shifted by 128, exactly."""
    import onnx

    model = onnx.load(tiny_run / "export/model_int8.onnx")
    initializers = {i.name: i.data_type for i in model.graph.initializer}
    weights = [n.input[0] for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in initializers]
    assert sum(initializers[name] == onnx.TensorProto.INT8 for name in weights) >= 52  # every convolution's
    activation_zero_points = [initializers[n.input[2]] for n in model.graph.node if n.op_type == "QuantizeLinear"]
    assert activation_zero_points and set(activation_zero_points) == {onnx.TensorProto.UINT8}


@pytest.mark.parametrize(
    ("machine", "flags", "exact"),
    [
        ("x86_64", {"avx2", "fma"}, True),  # AMD Zen 2/3, Intel before Cascade Lake: pairs saturate in 16 bits
        ("x86_64", {"avx2", "avx512f", "avx512bw"}, True),  # AVX-512 without VNNI saturates the same way
        ("x86_64", {"avx2", "avx512f", "avx512_vnni"}, False),  # exact 32-bit sums; the option would cost 2x
        ("x86_64", {"avx2", "avx_vnni"}, False),
        ("AMD64", None, True),  # flags unknown (Windows): exact, the safe side
        ("aarch64", None, False),  # ARM ignores the option
        ("arm64", None, False),
    ],
)
def test_exact_int8_kernels_are_asked_for_only_where_the_default_ones_saturate(machine, flags, exact):
    from edge.runtime.backends import needs_exact_int8_kernels

    assert needs_exact_int8_kernels(machine, None if flags is None else frozenset(flags)) is exact


@pytest.mark.parametrize("model", ["model.onnx", "model_int8.onnx"])
def test_a_lone_onnx_model_runs_with_the_labels_and_input_contract_it_carries(tiny_run, tmp_path, model):
    """No edge.json anywhere: the labels and input contract come from the model's metadata_props, which plain
    onnxruntime reads too; they change no output."""
    import onnx
    import onnxruntime

    lone = tmp_path / model
    lone.write_bytes((tiny_run / "export" / model).read_bytes())
    manifest = Manifest.load(tiny_run / "edge.json")
    properties = onnxruntime.InferenceSession(lone, providers=["CPUExecutionProvider"]).get_modelmeta()
    assert json.loads(properties.custom_metadata_map["labels"]) == manifest.labels
    assert json.loads(properties.custom_metadata_map["input"]) == manifest.input
    assert properties.custom_metadata_map["source_sha256"] == manifest.artifact("model.keras").sha256
    classifier = Classifier(lone)
    assert classifier.labels == manifest.labels and classifier.input_size == manifest.input_size
    bare = onnx.load(lone)
    del bare.metadata_props[:]
    onnx.save(bare, tmp_path / "bare.onnx")
    sample = next((tiny_run.parent / "samples").rglob("*.jpg"))
    with_manifest = Classifier(tmp_path / "bare.onnx", manifest=manifest, verify=False)
    assert np.array_equal(classifier.probabilities(sample), with_manifest.probabilities(sample))
    result = subprocess.run([sys.executable, "-m", "edge", "infer", str(lone), str(sample), "--json"],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["top_k"][0]["label"] in manifest.labels


def _without_metadata(model: Path, out: Path) -> Path:
    """`model` as the converter wrote it: no Model Metadata entry and no zip of associated files behind it."""
    from edge.train.compat import flatbuffer_utils

    bare = flatbuffer_utils.convert_bytearray_to_object(model.read_bytes())
    assert [entry.name for entry in bare.metadata].count(b"TFLITE_METADATA") == 1
    bare.metadata = [entry for entry in bare.metadata if entry.name != b"TFLITE_METADATA"]
    flatbuffer_utils.write_model(bare, str(out))
    return out


@pytest.mark.parametrize("model", ["model_float.tflite", "model_int8.tflite"])
def test_a_lone_tflite_model_runs_with_the_labels_and_input_contract_its_metadata_carries(tiny_run, tmp_path, model):
    """The Model Metadata's labels file and edge's properties travel in a zip behind the flatbuffer, where
    MediaPipe Tasks and the TFLite Support library look; they change no output."""
    lone = tmp_path / model
    lone.write_bytes((tiny_run / "export" / model).read_bytes())
    manifest = Manifest.load(tiny_run / "edge.json")
    with zipfile.ZipFile(lone) as files:
        assert files.read("labels.txt").decode().splitlines() == manifest.labels
    classifier = Classifier(lone)
    assert classifier.labels == manifest.labels and classifier.input_size == manifest.input_size
    bare = Classifier(_without_metadata(lone, tmp_path / "bare.tflite"), manifest=manifest, verify=False)
    samples = sorted((tiny_run.parent / "samples").rglob("*.jpg"))
    assert np.array_equal(classifier.probabilities_batch(samples), bare.probabilities_batch(samples))
    result = subprocess.run([sys.executable, "-m", "edge", "infer", str(lone), str(samples[0]), "--json"],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["top_k"][0]["label"] in manifest.labels


def test_a_lone_tflite_model_without_metadata_is_a_one_line_error_naming_what_is_missing(tiny_run, tmp_path):
    lone = _without_metadata(tiny_run / "export/model_int8.tflite", tmp_path / "model_int8.tflite")
    result = subprocess.run([sys.executable, "-m", "edge", "infer", str(lone), str(lone)], capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode == 2 and "no edge.json beside the model" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1

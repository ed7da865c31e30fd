"""Bad input never gives a traceback: broken images, model files and manifests are one line on stderr and
exit 2; awkward but valid images are classified as their plain RGB equivalents; a killed export leaves the
previous artifacts intact; junk in a dataset folder is ignored as documented."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from edge.runtime import Classifier, Manifest
from edge.runtime.datasets import load_dataset

from .helpers import assert_one_line_error, run_edge


def _jpeg(size=(64, 48), seed=0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG")
    return buffer.getvalue()


def _bomb(path):
    Image.new("1", (20000, 20000)).save(path)  # 400 megapixels in a few kB


BROKEN_IMAGES = {
    "zero.jpg": (lambda path: path.write_bytes(b""), "not an image"),
    "text.jpg": (lambda path: path.write_text("just some text"), "not an image"),
    "page.jpg": (lambda path: path.write_text("<html><body>a saved web page</body></html>"), "not an image"),
    "truncated.jpg": (lambda path: path.write_bytes(_jpeg((200, 200))[:2000]), "truncated"),
    "garbage.jpg": (lambda path: path.write_bytes(_jpeg()[:20] + os.urandom(4000)), "garbage.jpg"),
    "bomb.png": (_bomb, "decompression bomb"),
    "missing.jpg": (lambda path: None, "no such file"),
    "empty_dir": (lambda path: path.mkdir(), "directory has no image files"),
}


@pytest.mark.parametrize("name", BROKEN_IMAGES)
def test_a_broken_image_is_one_line_and_exit_2(tiny_run, tmp_path, name):
    make, fragment = BROKEN_IMAGES[name]
    make(tmp_path / name)
    result = run_edge("infer", tiny_run / "export/model_int8.tflite", tmp_path / name)
    assert_one_line_error(result, fragment)
    assert name in result.stderr


def _awkward(folder):
    """Valid images in awkward forms, each with the plain RGB image it must be classified as."""
    rng = np.random.default_rng(1)
    rgb = Image.fromarray(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8))
    folder.mkdir()
    cases = {}

    def save(name, image, twin, **options):
        image.save(folder / name, **options)
        cases[name] = twin

    gray = rgb.convert("L")
    save("gray.png", gray, gray.convert("RGB"))
    save("cmyk.jpg", rgb.convert("CMYK"), Image.open(io.BytesIO(_save(rgb.convert("CMYK"), "JPEG"))).convert("RGB"))
    save("one_pixel.png", Image.new("RGB", (1, 1), (200, 30, 30)), Image.new("RGB", (1, 1), (200, 30, 30)))
    wide = Image.fromarray(rng.integers(0, 256, (3, 2000, 3), dtype=np.uint8))
    save("wide.png", wide, wide)
    save("rgba_opaque.png", rgb.convert("RGBA"), rgb)
    save("picture.webp", rgb, rgb, lossless=True)
    frames = [rgb.convert("P"), Image.new("P", rgb.size, 3)]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:])
    cases["animated.gif"] = rgb.convert("P").convert("RGB")
    rotated = rgb.rotate(90, expand=True)  # stored turned, with EXIF saying "rotate 270 CW to view"
    exif = Image.Exif()
    exif[0x0112] = 6
    (folder / "exif_rotated.jpg").write_bytes(_save(rotated, "JPEG", exif=exif, quality=100))
    cases["exif_rotated.jpg"] = Image.open(io.BytesIO(_save(rotated, "JPEG", quality=100))).rotate(-90, expand=True)
    (folder / "jpeg_named.png").write_bytes(_save(rgb, "JPEG", quality=95))
    cases["jpeg_named.png"] = Image.open(io.BytesIO(_save(rgb, "JPEG", quality=95))).convert("RGB")
    (folder / "ünï cödé é").mkdir()
    (folder / "ünï cödé é" / "phötö 1.png").write_bytes(_save(rgb, "PNG"))
    cases["ünï cödé é/phötö 1.png"] = rgb
    return cases


def _save(image, kind, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, kind, **options)
    return buffer.getvalue()


def test_awkward_valid_images_are_classified_as_their_rgb_twins(tiny_run, tmp_path):
    cases = _awkward(tmp_path / "awkward")
    classifier = Classifier(tiny_run / "export/model_float.tflite")
    for name, twin in cases.items():
        expected = classifier.probabilities(np.asarray(twin.convert("RGB")))
        assert np.allclose(classifier.probabilities(tmp_path / "awkward" / name), expected, atol=0.02), name
    result = run_edge("infer", tiny_run / "export/model_int8.tflite", tmp_path / "awkward", "--json")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == len(cases) and all("top_k" in row for row in rows)


def _truncated(path, source):
    path.write_bytes(source.read_bytes()[: source.stat().st_size // 2])


def _corrupt(path, source):
    data = bytearray(source.read_bytes())
    data[8:4096] = np.random.default_rng(0).integers(0, 256, 4088, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


BROKEN_MODELS = {
    "empty": (lambda path, source: path.write_bytes(b""), "model file is empty"),
    "truncated": (_truncated, "cannot load this model"),
    "corrupt": (_corrupt, "cannot load this model"),
    "text": (lambda path, source: path.write_text("not a model at all"), "not a TFLite model"),
}


@pytest.mark.parametrize("kind", ["tflite", "onnx"])
@pytest.mark.parametrize("case", BROKEN_MODELS)
def test_a_broken_model_file_is_one_line_and_exit_2_never_a_crash(tiny_run, tmp_path, kind, case):
    source = tiny_run / ("export/model_float.tflite" if kind == "tflite" else "export/model.onnx")
    make, fragment = BROKEN_MODELS[case]
    if kind == "onnx" and case in ("text", "corrupt"):
        fragment = "cannot load this model"
    model = tmp_path / source.name  # the manifest lists it under this name
    make(model, source)
    shutil.copy(tiny_run / "edge.json", tmp_path / "edge.json")
    sample = next((tiny_run.parent / "samples").rglob("*.jpg"))
    assert_one_line_error(run_edge("infer", model, sample, "--no-verify"), fragment)
    if case != "empty":  # with verification on, the manifest's sha256 refuses it first
        assert_one_line_error(run_edge("infer", model, sample), "sha256")


def test_missing_model_and_foreign_manifests_are_refused(tiny_run, tmp_path):
    sample = next((tiny_run.parent / "samples").rglob("*.jpg"))
    assert_one_line_error(run_edge("infer", tmp_path / "nope.tflite", sample), "no such model file")
    shutil.copy(tiny_run / "export/model_float.tflite", tmp_path / "model_float.tflite")
    manifest = json.loads((tiny_run / "edge.json").read_text())
    (tmp_path / "edge.json").write_text(json.dumps(manifest | {"format_version": 99}))
    assert_one_line_error(run_edge("infer", tmp_path / "model_float.tflite", sample), "format version 99")
    (tmp_path / "edge.json").write_text(json.dumps(manifest | {"labels": manifest["labels"][:-1]}))
    assert_one_line_error(run_edge("infer", tmp_path / "model_float.tflite", sample), "labels")
    (tmp_path / "edge.json").write_text("{ not json")
    assert_one_line_error(run_edge("infer", tmp_path / "model_float.tflite", sample), "edge.json")


def _digests(run):
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in [*(run / "export").iterdir(),
                                                                                   run / "edge.json"]}  # fmt: skip


@pytest.mark.slow
def test_a_killed_export_leaves_the_previous_artifacts_intact(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    manifest = json.loads((run / "edge.json").read_text())
    manifest["data"]["root"] = str(tiny_run.parent / "data")
    (run / "edge.json").write_text(json.dumps(manifest))
    before = _digests(run)
    process = subprocess.Popen([sys.executable, "-m", "edge", "export", str(run), "--int8", "--no-parity-gate"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 300
    while not list((run / "export").glob(".tmp-*")) and time.monotonic() < deadline:  # mid-export
        assert process.poll() is None, "the export ended before it could be killed"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    after = {name: digest for name, digest in _digests(run).items() if not name.startswith(".tmp-")}
    assert after == before
    for artifact in Manifest.load(run / "edge.json").artifacts:
        Manifest.load(run / "edge.json").verify(run / artifact.file)  # every listed file still matches
    assert run_edge("infer", run / "export/model_int8.tflite", tiny_run.parent / "samples").returncode == 0


def test_dataset_junk_is_ignored_and_odd_class_names_kept(tmp_path):
    for name in ("clâss one", "b"):
        (tmp_path / name).mkdir()
        for index in range(5):
            (tmp_path / name / f"{index}.jpg").write_bytes(_jpeg(seed=index))
    (tmp_path / "__MACOSX" / "b").mkdir(parents=True)
    (tmp_path / "__MACOSX" / "b" / "._0.jpg").write_bytes(b"\0\5\26\7 AppleDouble")
    (tmp_path / "b" / ".DS_Store").write_bytes(b"\0")
    (tmp_path / "b" / "._1.jpg").write_bytes(b"\0\5\26\7 AppleDouble")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "b" / "loop").symlink_to("..")  # a symlink loop is not followed
    dataset = load_dataset(tmp_path, 32)
    assert dataset.labels == ["b", "clâss one"]
    assert len(dataset.train) + len(dataset.validation) == 10 and not dataset.skipped


def test_an_image_too_big_for_the_memory_left_is_a_one_line_error(tmp_path, monkeypatch):
    from PIL import ImageFile

    from edge.runtime import ImageError, load_image

    (tmp_path / "photo.jpg").write_bytes(_jpeg())

    def out_of_memory(self):
        raise MemoryError

    monkeypatch.setattr(ImageFile.ImageFile, "load", out_of_memory)
    with pytest.raises(ImageError, match=r"photo.jpg: needs more memory to decode") as error:
        load_image(tmp_path / "photo.jpg", (32, 32))
    assert "\n" not in str(error.value)

"""The `edge` command's contract with users: one-line errors, documented exit codes, JSON lines."""

from __future__ import annotations

import json

import numpy as np
import pytest

from .helpers import assert_one_line_error, run_edge


@pytest.fixture(scope="module")
def samples(tiny_run):
    return sorted((tiny_run.parent / "samples").rglob("*.jpg"))


def test_infer_prints_a_table_and_json_lines(tiny_run, samples):
    model = tiny_run / "export/model_int8.tflite"
    table = run_edge("infer", model, *samples[:2], "--top-k", "2")
    assert table.returncode == 0 and "top-2" in table.stdout and samples[0].name in table.stdout
    result = run_edge("infer", model, samples[0].parent.parent, "--json", "--threads", "1")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 0 and [row["image"] for row in rows] == [str(path) for path in samples]
    labels = (tiny_run / "labels.txt").read_text().split()
    for row in rows:
        assert len(row["top_k"]) == 3 and all(0 <= entry["score"] <= 1 for entry in row["top_k"])
        assert all(labels[entry["index"]] == entry["label"] for entry in row["top_k"])


def test_infer_expands_a_quoted_glob(tiny_run, samples):
    pattern = samples[0].parent.parent / "*" / "*.jpg"
    result = run_edge("infer", tiny_run / "export/model_int8.tflite", pattern, "--json")
    assert result.returncode == 0, result.stderr
    assert sorted(json.loads(line)["image"] for line in result.stdout.splitlines()) == sorted(map(str, samples))
    missing = run_edge("infer", tiny_run / "export/model_int8.tflite", samples[0].parent / "*.png")
    assert missing.returncode == 2 and "no files match" in missing.stderr


def test_one_bad_image_among_several_is_reported_and_the_rest_classified(tiny_run, samples, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_text("<html>")
    result = run_edge("infer", tiny_run / "export/model_int8.tflite", samples[0], broken, samples[1], "--json")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 1
    assert [("top_k" in row, "error" in row) for row in rows] == [(True, False), (False, True), (True, False)]
    assert rows[1]["image"] == str(broken) and "not an image" in rows[1]["error"]


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["infer", "missing.tflite", "photo.jpg"], "missing.tflite: no such model file"),
        (["infer", "{model}", "missing.jpg"], "missing.jpg: no such file"),
        (["infer", "{model}", "photo.jpg", "--bogus"], "No such option: --bogus"),
        (["infer", "{run}/model.keras", "photo.jpg"], "export it first"),
        (["train", "no/such/folder"], "no/such/folder: no such data directory"),
        (["train", "{run}", "--image-size", "500"], "--image-size 500 is outside 96-384"),
        (["train", "{run}", "--class-weights", "some"], "Invalid value for '--class-weights': "),
        (["train", "{run}", "--class-weights", "some"], "'some' is not one of 'auto', 'none'"),
        (["train", "{run}", "--epochs", "ten"], "Invalid value for '--epochs': "),
        (["export", "{run}", "--onnx-int8", "onnx"], "'onnx' is not one of 'tf2onnx', 'onnxruntime'"),
        (["train", "--config", "{run}/edge.json"], "edge.json: unknown option 'labels'"),
        (["train", "--out", "{run}/again"], "give DATA_DIR, or a --config file that names data_dir"),
        (["export", "{run}", "--int8", "--qat-temperature", "0"], "--qat-temperature 0.0 must be positive"),
        (["export", "{run}", "--keep-float", "Conv_1"], "--keep-float applies to int8 models: add --int8"),
        (["export", "{run}", "--int8", "--keep-float", "auto,Conv_1"], "either auto or layer names, not both"),
        (["export", "{run}", "--int8", "--keep-float", "Conv_9"], "--keep-float Conv_9: edge_mobilenet_v2 has no"),
        (["export", "no/such/run"], "no/such/run: no such run directory"),
    ],
)
def test_user_mistakes_give_one_line_and_exit_2(tiny_run, args, fragment):
    filled = [a.format(model=tiny_run / "export/model_int8.tflite", run=tiny_run) for a in args]
    assert_one_line_error(run_edge(*filled), fragment)


def test_help_and_version():
    assert run_edge("--version").stdout.startswith("edge ")
    result = run_edge("--help")
    assert result.returncode == 0 and all(command in result.stdout for command in ("train", "export", "infer"))
    train_help = " ".join(run_edge("train", "--help", env={"COLUMNS": "200"}).stdout.split())
    assert "[default: the backbone's, ~top 30%]" in train_help  # bracketed defaults are not eaten as markup


def test_eval_reports_metrics_and_plots_the_confusion_matrix(tiny_run, tmp_path):
    data = tiny_run.parent / "samples"
    plot = tmp_path / "confusion.png"
    result = run_edge("eval", tiny_run / "export/model_int8.onnx", data, "--json", "--plot", plot)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    labels = (tiny_run / "labels.txt").read_text().split()
    assert report["n"] == 4 and 0 <= report["accuracy"] <= 1 and set(report["per_class"]) == set(labels)
    assert np.array(report["confusion_matrix"]).sum() == 4 and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    keras_report = run_edge("eval", tiny_run / "model.keras", data)
    assert keras_report.returncode == 0 and "balanced accuracy" in keras_report.stdout


def test_eval_refuses_classes_the_model_does_not_know(tiny_run, tmp_path):
    (tmp_path / "giraffe").mkdir()
    result = run_edge("eval", tiny_run / "export/model.onnx", tmp_path)
    assert_one_line_error(result, "classes the model does not know: giraffe")


def test_parity_on_a_labelled_folder_writes_its_report_and_exits_by_its_verdict(tiny_run):
    samples = tiny_run.parent / "samples"
    result = run_edge("parity", tiny_run, "--data", samples, "--min-agreement", "0", "--max-drop", "100", "--json")
    report = json.loads(result.stdout)
    assert report["n"] == 4 and report["images"].endswith("samples")
    assert json.loads((tiny_run / "export/parity.json").read_text())["n"] == 4
    assert report["passed"] and result.returncode == 0, result.stderr
    result = run_edge("parity", tiny_run, "--data", samples, "--min-float-agreement", "1.5")  # float cannot pass
    assert result.returncode == 1 and result.stderr.startswith("parity gate failed: model_float.tflite (agreement ")
    assert "model.onnx (agreement" in result.stderr and "model_int8" not in result.stderr


def test_bench_json_rows_have_the_documented_keys(tiny_run):
    models = [tiny_run / "export/model_int8.tflite", tiny_run / "export/model.onnx"]
    result = run_edge("bench", *models, "--runs", "3", "--warmup", "1", "--json", "--data", tiny_run.parent / "data")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    keys = {"model", "format", "precision", "size_mb", "latency_ms_p50", "latency_ms_p95", "e2e_ms_p50", "accuracy"}
    assert [(row["format"], row["precision"]) for row in rows] == [("tflite", "int8"), ("onnx", "float32")]
    for row, model in zip(rows, models, strict=True):
        assert keys <= row.keys() and row["model"] == str(model)
        assert row["size_mb"] == pytest.approx(model.stat().st_size / 1e6, rel=1e-3)
        assert 0 < row["latency_ms_p50"] <= row["latency_ms_p95"] and row["e2e_ms_p50"] > 0
        assert 0 <= row["accuracy"] <= 1 and row["images"] == 40  # 4 generated classes x 10 images

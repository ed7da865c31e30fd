"""A real runtime-only install, as a device gets it: `pip install 'edge[runtime]'` from the registry into a fresh
venv, no TensorFlow. `edge infer` and `edge eval` answer there as they do here; what needs TensorFlow says so in
one line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .helpers import REPO, assert_one_line_error, run_edge


@pytest.fixture(scope="module")
def runtime_edge(tmp_path_factory):
    """The `edge` command of a fresh venv holding edge's wheel with the runtime extra only."""
    venv = tmp_path_factory.mktemp("runtime") / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, timeout=120)
    install = subprocess.run([venv / "bin/python", "-m", "pip", "install", "--quiet", f"{REPO}[runtime]"],
                             capture_output=True, text=True, timeout=900)  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    tensorflow = subprocess.run([venv / "bin/python", "-c", "import tensorflow"], capture_output=True, timeout=60)
    assert tensorflow.returncode != 0, "the runtime extra brought TensorFlow"

    def edge(*args):
        return subprocess.run([venv / "bin/edge", *map(str, args)], capture_output=True, text=True, timeout=300)

    return edge


@pytest.mark.parametrize("model", ["model_int8.tflite", "model.onnx"])
def test_infer_gives_the_same_answers_without_tensorflow(runtime_edge, tiny_run, model):
    args = ("infer", tiny_run / "export" / model, tiny_run.parent / "samples", "--json", "--top-k", "2")
    there, here = runtime_edge(*args), run_edge(*args)
    assert there.returncode == 0, there.stderr
    assert _answers(there) == _answers(here) and len(_answers(there)) == 4


def _answers(result: subprocess.CompletedProcess) -> list[list[tuple]]:
    """(image, label, score to 5 places) of each top-k entry of `edge infer --json`'s lines."""
    return [[(row["image"], entry["label"], round(entry["score"], 5)) for entry in row["top_k"]]
            for row in map(json.loads, result.stdout.splitlines())]  # fmt: skip


def test_eval_of_an_exported_model_works_and_of_a_keras_model_says_what_to_install(runtime_edge, tiny_run):
    data = tiny_run.parent / "data"
    report = runtime_edge("eval", tiny_run / "export/model_int8.onnx", data, "--json")
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["n"] == 40
    needs_tensorflow = "needs TensorFlow: install the training extra, e.g. pip install 'edge[train]'"
    assert_one_line_error(runtime_edge("eval", tiny_run / "model.keras", data), needs_tensorflow)
    assert_one_line_error(runtime_edge("train", data), needs_tensorflow)

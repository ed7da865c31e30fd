"""A killed `edge train` keeps its checkpoints and `--resume` continues from the last finished epoch."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time

import pytest

from edge.demo import make_shapes

from .helpers import MOBILENET_035, run_edge, shared_path

FINE_TUNE_EPOCHS = 30


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    make_shapes(root / "data", 8, seed=0)
    return root


def _train_args(root, *extra):
    model = ["--alpha", "0.35", "--image-size", "96", "--weights", shared_path(f"weights/{MOBILENET_035}")]
    phases = ["--epochs", "2", "--fine-tune-epochs", str(FINE_TUNE_EPOCHS), "--patience", "100"]
    return ["train", root / "data", "--out", root / "run", *model, *phases, *extra]


def _rows(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def test_a_killed_run_resumes_from_its_last_finished_epoch(shapes):
    command = [sys.executable, "-m", "edge", *map(str, _train_args(shapes))]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    fine_tune_log = shapes / ".run.partial/checkpoints/fine-tune.csv"
    deadline = time.monotonic() + 300
    while not (fine_tune_log.is_file() and len(_rows(fine_tune_log)) >= 2) and time.monotonic() < deadline:
        assert process.poll() is None, "training ended before it could be killed"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)  # no clean-up runs: what a power cut or the OOM killer does
    process.wait()
    before = _rows(fine_tune_log)
    assert not (shapes / "run").exists() and 2 <= len(before) < FINE_TUNE_EPOCHS

    again = run_edge(*_train_args(shapes))
    assert again.returncode == 2 and "add --resume" in again.stderr

    changed = run_edge(*_train_args(shapes, "--resume", "--lr", "0.01"))
    assert changed.returncode == 2 and "changed: lr 0.001 -> 0.01" in changed.stderr

    resumed = run_edge(*_train_args(shapes, "--resume"))
    assert resumed.returncode == 0, resumed.stderr
    assert "phase frozen: finished before the interruption" in resumed.stdout
    assert f"Epoch {len(before) + 1}/{FINE_TUNE_EPOCHS}" in resumed.stdout  # no finished epoch is run again
    history = [row for row in _rows(shapes / "run/history.csv") if row["phase"] == "fine-tune"]
    assert [int(row["epoch"]) for row in history] == list(range(1, FINE_TUNE_EPOCHS + 1))
    assert [row["loss"] for row in history[: len(before)]] == [row["loss"] for row in before]
    assert not (shapes / ".run.partial").exists() and not (shapes / "run/checkpoints").exists()


def test_resume_without_an_interrupted_run_is_a_one_line_error(tmp_path):
    result = run_edge("train", tmp_path, "--out", tmp_path / "run", "--resume")
    assert result.returncode == 2 and "nothing to resume" in result.stderr and "Traceback" not in result.stderr

"""A short run of the preprocessing fuzzer (make fuzz runs it for longer)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .helpers import REPO


@pytest.mark.slow
def test_preprocessing_survives_20_seconds_of_fuzzing():
    pytest.importorskip("atheris", reason="atheris is in the dev extra (Linux)")
    result = subprocess.run(
        # -rss_limit_mb=0: libFuzzer reads getrusage's peak RSS, which a child started by this (TensorFlow-sized)
        # pytest process inherits; the harness caps its address space instead
        [sys.executable, REPO / "fuzz/preprocess.py", "-max_total_time=20", "-rss_limit_mb=0", "-seed=1"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Done" in result.stderr and "runs in" in result.stderr

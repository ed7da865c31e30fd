"""Helpers for the tests: where ../shared is, and how to run the `edge` command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EDGE_SHARED", REPO.parent / "shared"))
MOBILENET_035 = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"
#: the interpreter of MediaPipe's own venv, which `make test` makes
MEDIAPIPE_PYTHON = Path(os.environ.get("EDGE_MEDIAPIPE_PYTHON", REPO / ".venv/mediapipe/bin/python"))


def shared_path(relative: str) -> Path:
    """A path under ../shared; skips the test when it is missing, except in CI where that is a failure."""
    path = SHARED / relative
    if not path.exists():
        skip_unless_ci(f"{path} is not here: the shared data and weights sit beside the checkout (../shared)")
    return path


def skip_unless_ci(reason: str) -> None:
    """Skip the test for `reason`, except in CI, which has everything and fails instead."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI must not skip: {reason}")
    pytest.skip(reason)


def run_edge(*args, env: dict | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run the `edge` command in a fresh interpreter, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "edge", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def assert_one_line_error(result: subprocess.CompletedProcess, fragment: str, code: int = 2) -> None:
    """A user mistake: exit `code`, and one line on stderr, naming `fragment`, no traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert fragment in lines[0], lines[0]

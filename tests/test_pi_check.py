"""`make pi-check` on the tiny run: the runtime and video extras install for linux/aarch64 + CPython 3.11, and the
emulated `edge infer` (files and a clip) and `edge serve` give this machine's top-1 labels."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from .helpers import REPO


@pytest.mark.slow
def test_pi_check_gives_the_same_top1_on_emulated_aarch64(tiny_run, tmp_path_factory):
    if os.geteuid() != 0 or not all(shutil.which(tool) for tool in ("apt-get", "dpkg", "unshare")):
        pytest.skip("pi-check needs root, apt-get, dpkg and unshare (Debian/Ubuntu as root, as in CI)")
    env = {**os.environ, "RUN": str(tiny_run), "IMAGES": str(tiny_run.parent / "samples"),
           "PI_WORK": str(tmp_path_factory.mktemp("pi")), "PYTHON": sys.executable}  # fmt: skip
    result = subprocess.run([REPO / ".ci/pi-check"], env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "emulated: aarch64 Python 3.11" in result.stdout
    models = [*(tiny_run / "export").glob("*.tflite"), *(tiny_run / "export").glob("*.onnx")]
    assert result.stdout.count("images, top-1 identical on aarch64") == len(models) == 4
    assert "edge serve: top-1 identical on aarch64" in result.stdout
    assert "edge infer --source: top-1 identical on aarch64" in result.stdout

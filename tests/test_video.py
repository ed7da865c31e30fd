"""`edge infer --source`: frames of a real video file go through the same preprocessing as image files."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from edge.runtime.preprocess import image_files

from .helpers import run_edge, shared_path

cv2 = pytest.importorskip("cv2", reason="the video extra (OpenCV) is not installed: pip install -e '.[video]'")


def lossless_clip(path, frames):
    """An FFV1 video of `frames` (RGB arrays), which decodes back to exactly these pixels."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 10, (width, height))
    assert writer.isOpened()
    for rgb in frames:
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()


def json_lines(result):
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.slow
def test_each_frame_gets_what_edge_infer_gives_for_the_same_pixels_in_a_file(sign_digits_run, tmp_path):
    model = sign_digits_run / "export" / "model.onnx"
    photos = image_files(shared_path("data/sign_digits"))[::207]  # ten, across the digits
    frames = [np.asarray(Image.open(photo).convert("RGB").resize((120, 90))) for photo in photos]
    for index, rgb in enumerate(frames):
        Image.fromarray(rgb).save(tmp_path / f"{index:02d}.png")
        Image.fromarray(np.ascontiguousarray(rgb[..., ::-1])).save(tmp_path / f"{index:02d}_bgr.png")
    lossless_clip(tmp_path / "clip.mkv", frames)

    streamed = json_lines(run_edge("infer", model, "--source", tmp_path / "clip.mkv", "--json"))
    files = json_lines(run_edge("infer", model, *sorted(tmp_path.glob("??.png")), "--json"))
    swapped = json_lines(run_edge("infer", model, *sorted(tmp_path.glob("*_bgr.png")), "--json"))

    assert [row["frame"] for row in streamed] == list(range(len(frames)))
    assert [row["top_k"] for row in streamed] == [row["top_k"] for row in files]
    assert [row["top_k"] for row in streamed] != [row["top_k"] for row in swapped]  # colour order would show
    assert all(row["latency_ms"] > 0 for row in streamed)

    every_third = run_edge("infer", model, "--source", tmp_path / "clip.mkv", "--every", "3")
    assert every_third.returncode == 0, every_third.stderr
    assert [line.split()[1] for line in every_third.stdout.splitlines()] == ["0", "3", "6", "9"]
    assert "4 frames classified in" in every_third.stderr


def test_sources_that_cannot_be_read_are_one_line_errors(tiny_run, tmp_path):
    model = tiny_run / "export" / "model.onnx"
    (tmp_path / "empty.mkv").write_bytes(b"")
    for source, message in [(tmp_path / "missing.mp4", "OpenCV cannot open"), (tmp_path / "empty.mkv", "cannot open"),
                            ("picamera", "needs picamera2")]:  # fmt: skip
        result = run_edge("infer", model, "--source", source)
        assert result.returncode == 2, (source, result.stderr)
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    both = run_edge("infer", model, tmp_path / "x.jpg", "--source", "0")
    assert both.returncode == 2 and "not both" in both.stderr


def test_without_opencv_the_source_option_says_what_to_install(tiny_run):
    script = (
        "import sys\n"
        "sys.modules['cv2'] = None  # as if the video extra were not installed\n"
        "from edge.cli import main\n"
        f"sys.argv = ['edge', 'infer', {str(tiny_run / 'export' / 'model.onnx')!r}, '--source', 'clip.mp4']\n"
        "main()\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --source clip.mp4 needs OpenCV: pip install 'edge[video]' (or " \
        "opencv-python-headless)"  # fmt: skip

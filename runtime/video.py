"""Frames from a camera, a video file or a stream, as RGB arrays for `Classifier.predict`.

OpenCV (the `video` extra) reads cameras by index or /dev/videoN, files and network streams (rtsp://, http://);
`picamera` reads a Raspberry Pi camera through picamera2, which Raspberry Pi OS installs with apt. Frames are
handed over as they come, full size: the classifier resizes them exactly as it resizes a photo.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .errors import EdgeError
from .native_stderr import native_stderr_without

OPENCV_HINT = "--source {source} needs OpenCV: pip install 'edge[video]' (or opencv-python-headless)"
PICAMERA_HINT = (
    "--source picamera needs picamera2: on Raspberry Pi OS, sudo apt install python3-picamera2, and a venv made "
    "with --system-site-packages"
)


@dataclass(frozen=True)
class Frame:
    index: int  #: position in the source, counting every frame read (skipped ones too) from 0
    pixels: np.ndarray  #: uint8[H, W, 3], RGB


def frames(source: str, *, every: int = 1, max_fps: float | None = None) -> Iterator[Frame]:
    """Every `every`-th frame of `source`, and at most `max_fps` of them a second (the others are read and
    dropped, so a live camera's answers stay current), until the source ends."""
    read = _picamera() if source == "picamera" else _opencv(source)
    interval = 1 / max_fps if max_fps else 0.0
    due = 0.0
    for index, grab in enumerate(read):
        if index % every or time.monotonic() < due:
            continue
        pixels = grab()
        if pixels is None:
            return
        due = time.monotonic() + interval
        yield Frame(index, pixels)


def _opencv(source: str) -> Iterator:
    """Yield, for each frame, a function that decodes it to RGB: skipped frames are never decoded."""
    try:
        import cv2
    except ImportError:
        raise EdgeError(OPENCV_HINT.format(source=source)) from None
    failed = True
    with native_stderr_without(lambda _: failed):  # FFmpeg's own complaint about a source refused below
        capture = cv2.VideoCapture(int(source) if source.isdigit() else source)
        failed = not capture.isOpened()
    if failed:
        raise EdgeError(f"--source {source}: OpenCV cannot open this camera, file or stream")

    def decode():
        ok, bgr = capture.retrieve()
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if ok else None  # OpenCV decodes to BGR; models take RGB

    try:
        while capture.grab():
            yield decode
    finally:
        capture.release()


def _picamera() -> Iterator:
    try:
        from picamera2 import Picamera2
    except ImportError:
        raise EdgeError(PICAMERA_HINT) from None
    camera = Picamera2()
    # libcamera names formats by register order: "BGR888" arrays come out in R, G, B byte order.
    camera.configure(camera.create_video_configuration(main={"format": "BGR888", "size": (640, 480)}))
    camera.start()
    try:
        while True:
            pixels = camera.capture_array()
            yield lambda pixels=pixels: pixels
    finally:
        camera.stop()
        camera.close()

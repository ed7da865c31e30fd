"""Fuzz the preprocessing contract: any bytes given to `load_image` either decode to uint8[H, W, 3] or raise
`ImageError` (a one-line message) — never another exception, a hang or a crash of the native decoders.

    python fuzz/preprocess.py [-max_total_time=60] [corpus dir]    (make fuzz)

Seeds are small valid images of every format and mode the runtime supports, generated at start-up; libFuzzer
mutates them. A crash found becomes a regression case in tests/test_bad_input.py.
"""

from __future__ import annotations

import io
import resource
import sys
import tempfile
import warnings
from pathlib import Path

import atheris

with atheris.instrument_imports():
    import numpy as np
    from PIL import Image

    from edge.runtime import ImageError, load_image

SIZE = (24, 32)
FOLDER = Path(tempfile.mkdtemp(prefix="edge-fuzz-"))


def seeds() -> list[bytes]:
    """One small image per format and mode: the decoders' interesting paths, for libFuzzer to mutate."""
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8))
    images = [(rgb, "JPEG"), (rgb, "PNG"), (rgb, "WEBP"), (rgb, "BMP"), (rgb.convert("P"), "GIF"),
              (rgb.convert("CMYK"), "JPEG"), (rgb.convert("L"), "PNG"), (rgb.convert("RGBA"), "PNG"),
              (rgb.convert("I;16"), "PNG")]  # fmt: skip
    found = []
    for image, kind in images:
        buffer = io.BytesIO()
        image.save(buffer, kind)
        found.append(buffer.getvalue())
    return found


def test_one_input(data: bytes) -> None:
    path = FOLDER / "input"
    path.write_bytes(data)  # through a file, as training and edge infer read images
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's own warnings (e.g. odd EXIF) are not failures
            pixels = load_image(path, SIZE)
    except ImageError as error:
        assert "\n" not in str(error), f"multi-line error: {error!r}"
        return
    assert pixels.shape == (*SIZE, 3) and pixels.dtype == np.uint8, (pixels.shape, pixels.dtype)


def main() -> None:
    corpus = [argument for argument in sys.argv[1:] if not argument.startswith("-")]
    if not corpus:  # a fresh corpus of seeds
        folder = FOLDER / "corpus"
        folder.mkdir()
        for index, seed in enumerate(seeds()):
            (folder / f"seed{index}").write_bytes(seed)
        sys.argv.append(str(folder))
    Image.MAX_IMAGE_PIXELS = 4_000_000  # bombs are refused quickly (the refusal itself is under test)
    # An input that needs gigabytes raises MemoryError inside Pillow, which load_image must report in one line.
    # (libFuzzer's -rss_limit_mb reads getrusage's peak RSS, which a process inherits from the one that
    # started it: run from a large process, it reports an out-of-memory at once.)
    resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, resource.RLIM_INFINITY))
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

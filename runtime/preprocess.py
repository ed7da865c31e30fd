"""The preprocessing contract: one function turns an image into a model's input.

Training builds its arrays with `load_image` and the runtime calls the very same function, so a model sees
on the device exactly the pixels it was trained and calibrated on. Normalisation is not done here: it is part
of every model graph, which takes raw RGB 0-255.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from .errors import ImageError

#: The resize policy, recorded in every manifest; the runtime refuses a model made under another one.
RESIZE_POLICY = {"resize": "stretch", "filter": "bilinear", "jpeg_draft": True}

#: File extensions treated as images, in training folders and when `edge infer` is given a directory.
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"})

#: Transparent pixels are composited onto this colour (PNG cut-outs are usually shown on white).
BACKGROUND = (255, 255, 255)

#: A path, the bytes of an image file (an upload), a decoded Pillow image or an array of pixels.
ImageSource = str | os.PathLike | bytes | Image.Image | np.ndarray


def image_files(folder: Path) -> list[Path]:
    """The image files under `folder` (by extension, recursively), sorted."""
    return sorted(path for path in folder.rglob("*") if path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file())


# Pillow's orientation tag values that swap width and height.
_TRANSPOSING_ORIENTATIONS = {5, 6, 7, 8}


def load_image(source: ImageSource, size: tuple[int, int]) -> np.ndarray:
    """Return `source` as `uint8[height, width, 3]` RGB, resized to `size = (height, width)`.

    Decoding applies the EXIF orientation and converts every mode (grayscale, palette, RGBA, CMYK, 16-bit)
    to RGB. The image is stretched to the target size with a bilinear filter (no crop: nothing the
    photographer framed is cut off). Large JPEGs are decoded at the smallest DCT scale that is still at least
    the target size, which is fast and identical in training and at run time.
    """
    height, width = size
    if isinstance(source, np.ndarray) and source.dtype == np.uint8 and source.shape == (height, width, 3):
        return source  # already the model's input: decoding and resizing would give back the same pixels
    if isinstance(source, np.ndarray):
        image = _from_array(source)
    elif isinstance(source, Image.Image):
        image = source
    elif isinstance(source, bytes):
        image = _open(io.BytesIO(source), (width, height), _name(source))
    else:
        image = _open(Path(source), (width, height), str(source))
    try:
        rgb = _to_rgb(ImageOps.exif_transpose(image))
        if rgb.size != (width, height):
            rgb = rgb.resize((width, height), Image.Resampling.BILINEAR)
        return np.asarray(rgb, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError) as error:  # Pillow reports truncated or corrupt data lazily
        raise ImageError(f"{_name(source)}: cannot decode image ({error})") from None
    except MemoryError:
        raise ImageError(f"{_name(source)}: needs more memory to decode than this process may use") from None


def _open(file: Path | io.BytesIO, target: tuple[int, int], name: str) -> Image.Image:
    """Open and decode `file` (a path, or an upload's bytes: the same decoding), with JPEG draft mode when the
    image is much larger than `target`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(file)
            if image.format == "JPEG":
                exif = image.getexif()
                if exif.get(ImageOps.ExifTags.Base.Orientation) in _TRANSPOSING_ORIENTATIONS:
                    target = target[::-1]
                image.draft(image.mode if image.mode in ("RGB", "L") else None, target)
            image.load()
            return image
    except FileNotFoundError:
        raise ImageError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{name}: is a directory, not an image") from None
    except PermissionError:
        raise ImageError(f"{name}: permission denied") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageError(f"{name}: refused as a decompression bomb ({error})") from None
    except Image.UnidentifiedImageError:
        raise ImageError(f"{name}: not an image Pillow can read") from None
    except (OSError, ValueError, SyntaxError) as error:
        raise ImageError(f"{name}: cannot decode image ({error})") from None
    except MemoryError:
        raise ImageError(f"{name}: needs more memory to decode than this process may use") from None


def _from_array(array: np.ndarray) -> Image.Image:
    if array.dtype != np.uint8 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageError(
            f"array of shape {array.shape} and dtype {array.dtype}: expected uint8 [H, W], [H, W, 3] or [H, W, 4]"
        )
    return Image.fromarray(array)


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB, compositing transparency onto BACKGROUND."""
    if image.mode == "I" or image.mode.startswith("I;16"):
        # Deep grayscale (16-bit PNG): keep the top 8 bits; Pillow's own conversion clips everything above 255.
        deep = np.asarray(image).astype(np.int64)
        image = Image.fromarray(np.clip(deep >> 8, 0, 255).astype(np.uint8))
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


def _name(source: ImageSource) -> str:
    if isinstance(source, bytes):
        return f"<{len(source):,} bytes>"
    return str(source) if isinstance(source, (str, os.PathLike)) else f"<{type(source).__name__}>"

"""The preprocessing contract: every image mode and orientation comes out as the right RGB pixels."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from edge.runtime import ImageError, load_image

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def near(pixel, colour, tolerance=12) -> bool:
    return bool(np.all(np.abs(np.asarray(pixel, int) - np.asarray(colour, int)) <= tolerance))


def test_returns_uint8_rgb_of_the_requested_size(tmp_path):
    path = tmp_path / "photo.jpg"
    Image.new("RGB", (64, 48), RED).save(path)
    pixels = load_image(path, (32, 40))
    assert pixels.shape == (32, 40, 3) and pixels.dtype == np.uint8
    assert near(pixels[16, 20], RED)


def test_exif_orientation_is_applied(tmp_path):
    # Stored 40 wide x 20 high, red left half and blue right half; orientation 6 means "rotate 90° clockwise
    # to display", so the displayed image is 20 wide x 40 high with red on top.
    image = Image.new("RGB", (40, 20), RED)
    image.paste(BLUE, (20, 0, 40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif, quality=95)
    pixels = load_image(path, (40, 20))
    assert near(pixels[5, 10], RED) and near(pixels[35, 10], BLUE)


def test_grayscale_becomes_equal_channels(tmp_path):
    path = tmp_path / "gray.png"
    Image.new("L", (10, 10), 77).save(path)
    pixels = load_image(path, (10, 10))
    assert np.all(pixels == 77)


def test_transparent_pixels_become_white_and_opaque_ones_keep_their_colour(tmp_path):
    image = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (0, 0, 5, 10))
    path = tmp_path / "cutout.png"
    image.save(path)
    pixels = load_image(path, (10, 10))
    assert tuple(pixels[5, 2]) == RED and tuple(pixels[5, 8]) == WHITE


def test_palette_with_transparency(tmp_path):
    image = Image.new("P", (10, 10), 0)
    image.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    image.paste(1, (0, 0, 10, 5))
    path = tmp_path / "palette.png"
    image.save(path, transparency=0)
    pixels = load_image(path, (10, 10))
    assert tuple(pixels[2, 5]) == BLUE and tuple(pixels[8, 5]) == WHITE


def test_cmyk_jpeg_becomes_the_right_rgb(tmp_path):
    path = tmp_path / "print.jpg"
    Image.new("RGB", (16, 16), (200, 40, 90)).convert("CMYK").save(path, quality=98)
    assert Image.open(path).mode == "CMYK"
    assert near(load_image(path, (16, 16))[8, 8], (200, 40, 90))


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    path = tmp_path / "deep.png"
    Image.fromarray(np.full((8, 8), 32768, np.uint16)).save(path)
    assert np.all(load_image(path, (8, 8)) == 128)


def test_large_jpeg_decodes_to_the_same_pixels_every_time(tmp_path):
    path = tmp_path / "camera.jpg"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (1500, 2000, 3), dtype=np.uint8)).save(path)
    first = load_image(path, (96, 96))
    assert np.array_equal(first, load_image(path, (96, 96)))


def test_array_and_pil_inputs_match_the_file(tmp_path):
    path = tmp_path / "photo.png"
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)).save(path)
    from_file = load_image(path, (32, 32))
    assert np.array_equal(from_file, load_image(Image.open(path), (32, 32)))
    assert np.array_equal(from_file, load_image(np.asarray(Image.open(path)), (32, 32)))
    assert np.array_equal(from_file, load_image(from_file, (32, 32)))


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.jpg", b"", "not an image"),
        ("page.jpg", b"<html><body>not a photo</body></html>", "not an image"),
        ("missing.jpg", None, "no such file"),
    ],
)
def test_unreadable_files_raise_one_line_errors(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageError, match=message) as error:
        load_image(path, (32, 32))
    assert "\n" not in str(error.value) and name in str(error.value)


def test_truncated_jpeg_is_an_error(tmp_path):
    path = tmp_path / "cut.jpg"
    rng = np.random.default_rng(2)
    Image.fromarray(rng.integers(0, 256, (200, 200, 3), dtype=np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(ImageError, match="cut.jpg"):
        load_image(path, (32, 32))

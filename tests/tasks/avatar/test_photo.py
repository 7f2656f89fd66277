"""Specifications of photo loading: safe, upright, RGB, bounded, with plain errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFile
from skimage import data

from core.errors import InputError
from tasks.avatar.photo import (
    MAX_WORKING_SIDE_PX,
    PhotoError,
    load_photo,
)

ORIENTATION = 0x0112


def encode(image: Image.Image | np.ndarray, fmt: str, **options: object) -> bytes:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()


@pytest.mark.parametrize(("fmt", "name"), [("JPEG", "JPEG"), ("PNG", "PNG"), ("WEBP", "WebP"),
                                           ("BMP", "BMP"), ("TIFF", "TIFF")])
def test_the_same_photo_in_each_format_loads_at_the_same_size(astronaut, fmt, name):
    photo = load_photo(encode(astronaut, fmt))

    assert (photo.width, photo.height) == (512, 512)
    assert photo.rgb.shape == (512, 512, 3) and photo.rgb.dtype == np.uint8
    assert photo.source_format == name
    assert photo.scale == 1.0 and not photo.orientation_applied
    assert np.abs(photo.rgb.astype(int) - astronaut).mean() < 6  # lossy formats differ a bit


def test_a_lossless_photo_keeps_its_pixels_and_cannot_be_changed(astronaut):
    photo = load_photo(encode(astronaut, "PNG"))

    np.testing.assert_array_equal(photo.rgb, astronaut)
    with pytest.raises(ValueError):
        photo.rgb[0, 0] = 0


@pytest.mark.parametrize(("orientation", "stored_turn_deg"), [(6, 90), (8, 270), (3, 180)])
def test_exif_orientation_is_applied(astronaut, orientation, stored_turn_deg):
    # A camera held sideways stores the pixels turned and says how to turn them back.
    stored = Image.fromarray(astronaut).rotate(stored_turn_deg, expand=True)
    exif = stored.getexif()
    exif[ORIENTATION] = orientation

    photo = load_photo(encode(stored, "JPEG", exif=exif.tobytes()))

    assert photo.orientation_applied
    assert (photo.width, photo.height) == (512, 512)
    assert np.abs(photo.rgb.astype(int) - astronaut).mean() < 6


def test_a_large_photo_is_scaled_to_the_working_size():
    photo = load_photo(encode(np.full((3000, 3000, 3), 128, np.uint8), "JPEG"))

    assert (photo.width, photo.height) == (MAX_WORKING_SIDE_PX, MAX_WORKING_SIDE_PX)
    assert photo.rgb.shape == (2048, 2048, 3)
    assert photo.scale == pytest.approx(2048 / 3000)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_wide_photo_keeps_its_shape_when_scaled(fmt):
    photo = load_photo(encode(np.zeros((3000, 5000, 3), np.uint8), fmt))

    assert (photo.width, photo.height) == (2048, 1229)
    assert photo.scale == pytest.approx(2048 / 5000)


def test_transparency_is_laid_on_white():
    rgba = np.zeros((200, 300, 4), np.uint8)
    rgba[:, :150] = (200, 10, 10, 255)  # opaque red on the left, transparent on the right

    photo = load_photo(encode(rgba, "PNG"))

    assert tuple(photo.rgb[100, 50]) == (200, 10, 10)
    assert tuple(photo.rgb[100, 250]) == (255, 255, 255)


@pytest.mark.parametrize(("mode", "fmt"), [("L", "PNG"), ("P", "PNG"), ("1", "BMP"),
                                           ("CMYK", "JPEG"), ("LA", "PNG")])
def test_every_colour_layout_becomes_rgb(astronaut, mode, fmt):
    photo = load_photo(encode(Image.fromarray(astronaut).convert(mode), fmt))

    assert photo.rgb.shape == (512, 512, 3) and photo.rgb.dtype == np.uint8
    assert 60 < photo.rgb.mean() < 190


def test_sixteen_bit_grey_is_scaled_not_clipped():
    grey16 = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (200, 1))

    photo = load_photo(encode(Image.fromarray(grey16), "PNG"))

    assert photo.rgb[0, 0, 0] == 0 and photo.rgb[0, -1, 0] == 255
    assert 120 < photo.rgb[0, 128, 0] < 135  # mid-grey stays mid-grey
    assert (photo.rgb[..., 0] == photo.rgb[..., 2]).all()


def test_photo_errors_are_input_errors():
    assert issubclass(PhotoError, InputError)


def test_a_one_pixel_image_is_too_small():
    with pytest.raises(PhotoError, match="the photo is 1×1 pixels; at least 128 on the short "
                                         "side is needed"):
        load_photo(encode(np.zeros((1, 1, 3), np.uint8), "PNG"))


def test_a_thin_strip_is_too_small():
    with pytest.raises(PhotoError, match="1000×100 pixels; at least 128"):
        load_photo(encode(np.zeros((100, 1000, 3), np.uint8), "PNG"))


def test_a_truncated_jpeg_cannot_be_read(astronaut):
    whole = encode(astronaut, "JPEG")

    with pytest.raises(PhotoError, match="could not be read as an image"):
        load_photo(whole[: len(whole) // 2])


def test_a_truncated_jpeg_is_refused_even_if_pillow_was_told_to_accept_them(astronaut,
                                                                             monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    whole = encode(astronaut, "JPEG")

    with pytest.raises(PhotoError, match="could not be read as an image"):
        load_photo(whole[: len(whole) // 2])
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # the other code's choice is restored


def test_a_jpeg_cut_inside_its_header_cannot_be_read(astronaut):
    with pytest.raises(PhotoError, match="could not be read as an image"):
        load_photo(encode(astronaut, "JPEG")[:200])


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_a_huge_photo_is_refused_from_its_header_before_decoding(monkeypatch):
    huge = encode(Image.new("1", (12000, 12000), 1), "PNG")  # a few tens of KB
    assert len(huge) < 1_000_000

    def no_decoding(self):
        raise AssertionError("the pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(PhotoError, match="the photo is 12000×12000 pixels; the limit is 10000 "
                                         "on a side"):
        load_photo(huge)


def test_too_many_pixels_are_refused_even_within_the_side_limit():
    with pytest.raises(PhotoError, match=r"7000×6000 pixels \(42 million\); the limit is 40 "
                                         "million pixels"):
        load_photo(encode(Image.new("1", (7000, 6000), 1), "PNG"))


def test_text_is_not_a_photo():
    with pytest.raises(PhotoError, match="is not a photo format we can read; use JPEG, PNG"):
        load_photo(b"Hello, this is my script, not my photo.\n" * 10)


def test_a_gif_is_named_and_refused(astronaut):
    with pytest.raises(PhotoError, match=r"not a photo format we can read \(it is a GIF "):
        load_photo(encode(astronaut, "GIF"))


def test_the_name_given_appears_in_the_message():
    with pytest.raises(PhotoError, match='the photo "me.txt" is not a photo format'):
        load_photo(b"not an image at all", name="me.txt")


def test_no_bytes_is_an_empty_photo():
    with pytest.raises(PhotoError, match="the photo is empty"):
        load_photo(b"")

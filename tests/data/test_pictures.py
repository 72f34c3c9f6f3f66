"""Pictures as they come: what every format decodes to, hand-checked pixel values."""

import io

import numpy as np
import pytest
from PIL import Image

from ssah_tf.data.pictures import (
    PictureError,
    background_colour,
    decode_and_resize,
    picture_bytes,
)
from ssah_tf.errors import UserError

WHITE = (255, 255, 255)


def saved(picture: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, fmt, **options)
    return buffer.getvalue()


def decoded(data: bytes, background=WHITE) -> np.ndarray:
    stored = picture_bytes(data, "test.pic", background)
    array = decode_and_resize(stored, 4).numpy()
    assert array.shape == (4, 4, 3) and array.dtype == np.uint8
    return array


def test_transparent_png_is_composited_on_the_background():
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200  # red everywhere; left half opaque, right half transparent
    rgba[:, :2, 3] = 255
    data = saved(Image.fromarray(rgba, "RGBA"), "PNG")
    white = decoded(data)
    assert (white[:, :2] == (200, 0, 0)).all() and (white[:, 2:] == 255).all()
    black = decoded(data, background_colour("black"))
    assert (black[:, 2:] == 0).all()
    # Half transparent: 0.5 * 200 + 0.5 * 255 = 227.5 in red, 127.5 in green and blue.
    rgba[..., 3] = 128
    half = decoded(saved(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert abs(int(half[0, 0, 0]) - 227) <= 1 and abs(int(half[0, 0, 1]) - 127) <= 1


def test_palette_gray_and_cmyk():
    palette = Image.new("P", (4, 4))
    palette.putpalette([10, 20, 30] + [0, 0, 0] * 255)
    assert (decoded(saved(palette, "PNG")) == (10, 20, 30)).all()
    gray = Image.new("L", (4, 4), 77)
    assert (decoded(saved(gray, "JPEG", quality=100)) == 77).all()  # JPEG gray -> 3 equal
    cmyk = Image.new("CMYK", (4, 4), (0, 255, 255, 0))  # no black, full magenta+yellow: red
    red = decoded(saved(cmyk, "JPEG", quality=100)).astype(int)
    assert (red[..., 0] > 240).all() and (red[..., 1:] < 15).all()


def test_exif_orientation_is_applied():
    pixels = np.zeros((4, 8, 3), np.uint8)
    pixels[:, :4] = 255  # white left half, landscape 8 wide
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    data = saved(Image.fromarray(pixels), "JPEG", quality=100, exif=exif.tobytes())
    upright = np.asarray(Image.open(io.BytesIO(picture_bytes(data, "x", WHITE))))
    assert upright.shape[:2] == (8, 4)  # portrait once rotated
    assert upright[:3].mean() > 200 and upright[-3:].mean() < 50  # left half went on top


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "WEBP"])
def test_other_formats(fmt):
    picture = Image.new("RGB", (4, 4), (0, 0, 255))
    options = {"lossless": True} if fmt == "WEBP" else {}
    out = decoded(saved(picture, fmt, **options)).astype(int)
    assert (out[..., 2] > 240).all() and (out[..., :2] < 15).all()


def test_plain_files_are_kept_byte_for_byte():
    data = saved(Image.new("RGB", (5, 3), (1, 2, 3)), "PNG")
    assert picture_bytes(data, "x", WHITE) == data


def test_unreadable_and_bad_background_name_the_problem():
    with pytest.raises(PictureError, match=r"picture imgs/a\.png \(line 3\) could not be decoded"):
        picture_bytes(b"GIF89a broken", "imgs/a.png (line 3)", WHITE)
    with pytest.raises(UserError, match="#rrggbb"):
        background_colour("pink-ish")
    assert background_colour("#0a0B0c") == (10, 11, 12)

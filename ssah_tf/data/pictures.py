"""Pictures as they come, to RGB bytes TensorFlow decodes the same way everywhere.

Every picture a data set, ``ssah-prepare`` or ``ssah-encode`` reads goes through
:func:`picture_bytes`: a picture TensorFlow's decoders read as it is (an RGB or
grayscale JPEG, PNG or BMP without transparency or EXIF rotation) keeps its own bytes;
any other (transparent or palette PNGs, GIF, WebP, CMYK JPEGs, EXIF-rotated photos,
16-bit PNGs) is decoded once by Pillow, turned upright, composited on the stated
background and stored as an RGB PNG. :func:`decode_and_resize` (TensorFlow, inside
the tf.data pipelines and the encoders) then gives the same pixels from either.
"""

from __future__ import annotations

import io
import os
import re

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ssah_tf.data.text_files import read_text_lines
from ssah_tf.errors import UserError

BACKGROUNDS = {"white": (255, 255, 255), "black": (0, 0, 0), "gray": (128, 128, 128)}
# What TensorFlow's decode_image reads as the picture itself (first frame of a GIF
# aside, which Pillow handles: GIFs are palette pictures, never plain).
_PLAIN_FORMATS = {"JPEG", "PNG", "BMP"}
_PLAIN_MODES = {"RGB", "L"}
_EXIF_ORIENTATION = 0x0112
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff")


class PictureError(ValueError):
    """A picture that cannot be read; the message names it."""


def background_colour(name: str) -> tuple[int, int, int]:
    """'white', 'black', 'gray' or '#rrggbb' -> an RGB triple (UserError otherwise)."""
    if name in BACKGROUNDS:
        return BACKGROUNDS[name]
    match = re.fullmatch(r"#([0-9a-fA-F]{6})", name or "")
    if not match:
        raise UserError(
            f"`image_background={name!r}` is not a colour; use white, black, gray or #rrggbb"
        )
    value = match.group(1)
    return tuple(int(value[i : i + 2], 16) for i in (0, 2, 4))


def _open(data: bytes, where: str) -> Image.Image:
    try:
        picture = Image.open(io.BytesIO(data))
        picture.load()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        reason = str(error).split("\n")[0][:80] or type(error).__name__
        raise PictureError(f"picture {where} could not be decoded ({reason})") from None
    return picture


def is_plain(picture: Image.Image) -> bool:
    """Whether TensorFlow's decoders read ``picture`` exactly as it is meant to look."""
    orientation = picture.getexif().get(_EXIF_ORIENTATION, 1)
    return (
        picture.format in _PLAIN_FORMATS
        and picture.mode in _PLAIN_MODES
        and orientation == 1
        and "transparency" not in picture.info
    )


def to_rgb(picture: Image.Image, background: tuple[int, int, int]) -> np.ndarray:
    """Upright uint8 RGB [H, W, 3]: EXIF orientation applied, transparency composited
    on ``background``, palette / grayscale / CMYK / 16-bit pixels converted."""
    picture = ImageOps.exif_transpose(picture)
    if picture.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grayscale: keep the top 8 bits (Pillow's RGB conversion clips instead).
        values = np.asarray(picture, np.uint32) >> 8
        return np.repeat(np.clip(values, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    if picture.mode == "P" or picture.mode in ("LA", "PA", "RGBA", "La", "RGBa"):
        picture = picture.convert("RGBA")
    if picture.mode == "RGBA":
        canvas = Image.new("RGBA", picture.size, (*background, 255))
        canvas.alpha_composite(picture)
        picture = canvas
    return np.asarray(picture.convert("RGB"), np.uint8)


def picture_bytes(data: bytes, where: str, background: tuple[int, int, int]) -> bytes:
    """``data`` itself when TensorFlow decodes it as it is, else the upright RGB
    picture on ``background`` as PNG; PictureError naming ``where`` when it cannot
    be decoded (every picture is decoded once here, so a broken file is found now)."""
    picture = _open(data, where)
    if is_plain(picture):
        return data
    return encode_png(to_rgb(picture, background))


def read_picture_file(path: str, background: tuple[int, int, int], where: str = "") -> bytes:
    """:func:`picture_bytes` of a file."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as error:
        raise PictureError(f"picture {where or path} cannot be read ({error.strerror})") from None
    return picture_bytes(data, where or path, background)


def encode_png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(pixels, np.uint8)).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def decode_and_resize(data, size: int):
    """TensorFlow: picture bytes (from :func:`picture_bytes`) -> uint8 [size, size, 3],
    bilinear with antialiasing (the pixels every network and baseline reads)."""
    import tensorflow as tf  # local: the readers above work without TensorFlow

    image = tf.io.decode_image(data, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return resize_picture(image, size)


def resize_picture(image, size: int):
    """uint8 [H, W, 3] -> [size, size, 3] (unchanged when already that size)."""
    import tensorflow as tf

    def resized():
        scaled = tf.image.resize(tf.cast(image, tf.float32), [size, size], antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(scaled), 0, 255), tf.uint8)

    same = tf.logical_and(tf.shape(image)[0] == size, tf.shape(image)[1] == size)
    return tf.ensure_shape(tf.cond(same, lambda: tf.identity(image), resized), [size, size, 3])


def load_picture(path: str, size: int, background: tuple[int, int, int]) -> np.ndarray:
    """One picture file as the networks see it: uint8 [size, size, 3]."""
    return decode_and_resize(read_picture_file(path, background), size).numpy()


def image_paths(path: str) -> list[str]:
    """A picture file, a folder (recursive, sorted) or a .txt list of paths (relative
    to the list's folder)."""
    if os.path.isdir(path):
        found = []
        for root, _, files in os.walk(path):
            found += [os.path.join(root, f) for f in files if f.lower().endswith(IMAGE_EXTENSIONS)]
        if not found:
            raise UserError(f"folder {path} has no pictures ({', '.join(IMAGE_EXTENSIONS)})")
        return sorted(found)
    if not os.path.isfile(path):
        raise UserError(f"{path} does not exist")
    if path.lower().endswith(".txt"):
        base = os.path.dirname(os.path.abspath(path))
        return [
            p if os.path.isabs(p) else os.path.join(base, p)
            for p in (line.strip() for line in read_text_lines(path))
            if p
        ]
    return [path]

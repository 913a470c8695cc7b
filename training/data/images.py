"""Image decoding and encoding shared by staging (and usable by prediction code).

Every image the project trains on is a 32x32 RGB PNG. `to_model_pixels` is the one place that
turns an arbitrary PNG/JPEG into those pixels, so staging and inference can agree on it.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from training.labels import IMAGE_SIZE

SUPPORTED_FORMATS = frozenset({"PNG", "JPEG"})
# A 32x32 classifier has no use for huge images; refusing them early bounds memory and time.
MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_IMAGE_PIXELS = 4096 * 4096


class ImageDecodeError(ValueError):
    """The bytes are not a supported, readable image of acceptable size."""


def to_model_pixels(image: Image.Image) -> np.ndarray:
    """RGB uint8 array (32, 32, 3): EXIF-rotated, alpha dropped, centre-cropped and resized."""
    image = ImageOps.exif_transpose(image)
    rgb = image.convert("RGB")
    if rgb.size != (IMAGE_SIZE, IMAGE_SIZE):
        # Crop to a centred square first so the aspect ratio is not distorted.
        rgb = ImageOps.fit(rgb, (IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)
    return np.asarray(rgb, dtype=np.uint8)


def decode_image(data: bytes) -> np.ndarray:
    """Decode PNG/JPEG bytes into model pixels; raise `ImageDecodeError` naming the problem."""
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageDecodeError(f"{len(data)} bytes is over the {MAX_IMAGE_BYTES} byte limit")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.format not in SUPPORTED_FORMATS:
                    raise ImageDecodeError(f"unsupported image format {image.format}")
                width, height = image.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise ImageDecodeError(f"{width}x{height} pixels is over the limit")
                image.load()
                return to_model_pixels(image)
    except ImageDecodeError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombWarning) as error:
        # PIL signals truncated/corrupt data with OSError, SyntaxError or ValueError.
        raise ImageDecodeError(f"not a readable image ({error})") from error


def decode_image_file(path: Path) -> np.ndarray:
    size = path.stat().st_size
    if size > MAX_IMAGE_BYTES:
        raise ImageDecodeError(f"{size} bytes is over the {MAX_IMAGE_BYTES} byte limit")
    return decode_image(path.read_bytes())


def encode_png(pixels: np.ndarray) -> bytes:
    """Deterministic PNG bytes (no timestamps or text chunks) of an RGB uint8 array."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8)).save(
        buffer, format="PNG", optimize=False
    )
    return buffer.getvalue()

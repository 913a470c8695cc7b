"""Image decoding and encoding for staging, through the contract's one image preparation.

Every image the project trains on is a 32x32 RGB PNG made by `contract.images.prepare_image`,
the function the upload gate and the endpoint use too, so training and serving see the same
pixels for the same bytes.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from contract import DEFAULT_LIMITS
from contract.images import ImageRejected, fit_to_model, prepare_image

# Staging's typed decode error is the contract's (a ValueError naming the problem).
ImageDecodeError = ImageRejected
MAX_IMAGE_BYTES = DEFAULT_LIMITS.max_bytes


def to_model_pixels(image: Image.Image) -> np.ndarray:
    """RGB uint8 array (32, 32, 3) of an already decoded image, by the contract's geometry."""
    return np.asarray(fit_to_model(image), dtype=np.uint8)


def decode_image(data: bytes) -> np.ndarray:
    """PNG/JPEG bytes -> model pixels (32, 32, 3); `ImageDecodeError` naming the problem."""
    return np.asarray(prepare_image(data, DEFAULT_LIMITS), dtype=np.uint8)


def decode_image_file(path: Path) -> np.ndarray:
    size = path.stat().st_size
    if size > MAX_IMAGE_BYTES:  # refused before reading it
        raise ImageDecodeError(f"{size} bytes is over the {MAX_IMAGE_BYTES} byte limit")
    return decode_image(path.read_bytes())


def encode_png(pixels: np.ndarray) -> bytes:
    """Deterministic PNG bytes (no timestamps or text chunks) of an RGB uint8 array."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8)).save(
        buffer, format="PNG", optimize=False
    )
    return buffer.getvalue()

"""Pure checks of image bytes with Pillow: the gate in front of the endpoint.

Only PNG and JPEG pass, within byte, dimension and aspect-ratio limits. The header is read first
(cheap, no pixel decode), the pixel count is bounded before any decode (decompression bombs), then
the whole file is decoded once so truncated or corrupt data fails here and not in the model.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from lambdas.shared.errors import InvalidImage
from lambdas.shared.formats import CONTENT_TYPES, DEFAULT_MAX_IMAGE_BYTES

_MAGIC = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG"}


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = DEFAULT_MAX_IMAGE_BYTES
    min_side: int = 8
    max_side: int = 4096
    max_pixels: int = 16_777_216  # 4096 x 4096; anything above is treated as a bomb
    max_aspect_ratio: float = 4.0


@dataclass(frozen=True)
class ImageInfo:
    format: str
    content_type: str
    width: int
    height: int
    size_bytes: int


def sniff_format(data: bytes) -> str | None:
    """The format named by the magic bytes, before Pillow looks at anything."""
    for magic, name in _MAGIC.items():
        if data.startswith(magic):
            return name
    return None


def inspect_image(data: bytes, limits: ImageLimits) -> ImageInfo:
    """Validate `data` as an image the endpoint accepts; raise InvalidImage saying why not."""
    size = len(data)
    if size == 0:
        raise InvalidImage("the object is empty")
    if size > limits.max_bytes:
        raise InvalidImage(f"the image has {size} bytes, above the limit of {limits.max_bytes}")
    declared = sniff_format(data)
    if declared is None:
        raise InvalidImage("not a PNG or JPEG file (unknown magic bytes)")
    try:
        with warnings.catch_warnings():
            # Pillow warns before it raises for bombs; the limit below is what decides.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[declared]) as image:
                width, height = image.size
                _check_dimensions(width, height, limits)
                image.load()  # full decode: truncated or corrupt data raises here
    except InvalidImage:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError) as error:
        raise InvalidImage(f"not a readable {declared}: {error}") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as error:
        # Pillow reports truncated/corrupt streams with these; none of them is a bug of ours.
        raise InvalidImage(f"corrupt {declared} data: {type(error).__name__}: {error}") from None
    return ImageInfo(
        format=declared,
        content_type=CONTENT_TYPES[declared],
        width=width,
        height=height,
        size_bytes=size,
    )


def _check_dimensions(width: int, height: int, limits: ImageLimits) -> None:
    if width <= 0 or height <= 0:
        raise InvalidImage(f"the image declares no pixels ({width}x{height})")
    if width * height > limits.max_pixels:
        raise InvalidImage(
            f"{width}x{height} is above the pixel limit of {limits.max_pixels} (possible bomb)"
        )
    if min(width, height) < limits.min_side:
        raise InvalidImage(f"{width}x{height} is below the minimum side of {limits.min_side} px")
    if max(width, height) > limits.max_side:
        raise InvalidImage(f"{width}x{height} is above the maximum side of {limits.max_side} px")
    ratio = max(width, height) / min(width, height)
    if ratio > limits.max_aspect_ratio:
        raise InvalidImage(
            f"aspect ratio {ratio:.2f} of {width}x{height} is above {limits.max_aspect_ratio}"
        )

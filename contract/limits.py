"""Which images the system accepts: formats and size limits, checked before any pixel decode.

One set of limits for the upload gate, the endpoint, staging and prediction, sized for phone
photos as they come: up to 48 megapixels (8064x6048, and 50 MP sensors) and 20 MiB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# Accepted format -> content type. (An MPO, the JPEG with extra frames that many phones write,
# is a JPEG here: its first frame is the photo.)
# HEIC is accepted only where pillow-heif is installed (contract/images.py, opt-in).
CONTENT_TYPES: Final[dict[str, str]] = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "HEIC": "image/heic",
}


@dataclass(frozen=True)
class ImageLimits:
    """Bounds on an encoded image, all checked from its bytes and header alone."""

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 50_000_000  # declared width x height: a 48 MP photo fits, a bomb does not
    min_side: int = 8
    max_side: int = 10_000
    max_aspect_ratio: float = 4.0
    # A PNG's pixels cost memory and time whatever its size in bytes: past `png_free_pixels`, a
    # PNG must bring at least one byte per `max_png_pixels_per_byte` pixels (photos bring ~1 per
    # pixel; a bomb declaring 50 MP in a few KB is refused before it is inflated).
    png_free_pixels: int = 4_000_000
    max_png_pixels_per_byte: float = 64.0

    def __post_init__(self) -> None:
        if min(self.max_bytes, self.max_pixels, self.min_side, self.max_side) < 1:
            raise ValueError(f"image limits must be positive: {self}")
        if self.min_side > self.max_side or not 1.0 <= self.max_aspect_ratio <= 1000.0:
            raise ValueError(f"inconsistent image limits: {self}")
        if self.png_free_pixels < 0 or self.max_png_pixels_per_byte <= 0:
            raise ValueError(f"inconsistent PNG limits: {self}")


DEFAULT_LIMITS: Final = ImageLimits()

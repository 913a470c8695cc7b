"""Phone-like photos for tests and benchmarks: large, non-square JPEGs generated with Pillow.

Smooth colour fields with a few sharp shapes and mild sensor noise, so a 24 MP photo encodes to
megabytes (the scale a phone writes: an iPhone's 24 MP default is about 3 MB) and decodes like
a real one; optionally with EXIF orientation or as an MPO (a second frame, as phones write).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

# Sizes phones write: 12 MP (4032x3024), 24 MP (5712x4284), 48 MP (8064x6048).
PHONE_SIZES = {12: (4032, 3024), 24: (5712, 4284), 48: (8064, 6048)}


def phone_photo(size: tuple[int, int], seed: int = 0) -> Image.Image:
    """An RGB image of `size` with smooth colour, a few edges and noise (deterministic)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    image = Image.fromarray(small).resize(size, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    width, height = size
    for _ in range(6):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        radius = int(rng.integers(width // 20, width // 6))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), outline=colour, width=25)
    # sensor noise: one 256 px tile of Gaussian noise repeated (a full-size field is slow to draw)
    tile = Image.effect_noise((256, 256), 12).convert("RGB")
    noise = Image.new("RGB", size)
    for left in range(0, width, 256):
        for top in range(0, height, 256):
            noise.paste(tile, (left, top))
    return Image.blend(image, noise, 0.08)


def phone_jpeg(
    megapixels: int = 12,
    seed: int = 0,
    quality: int = 88,
    orientation: int | None = None,
    mpo: bool = False,
) -> bytes:
    """JPEG bytes of a phone-sized photo (`PHONE_SIZES`), landscape as the sensor writes it."""
    image = phone_photo(PHONE_SIZES[megapixels], seed)
    options: dict[str, object] = {"quality": quality}
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        options["exif"] = exif.tobytes()
    buffer = io.BytesIO()
    if mpo:
        second = image.resize((image.width // 4, image.height // 4))
        image.save(buffer, format="MPO", save_all=True, append_images=[second], **options)
    else:
        image.save(buffer, format="JPEG", **options)
    return buffer.getvalue()

"""Encoded images of every kind the one image preparation must handle, shared by the tests of
its callers: non-square photos, EXIF orientations, palettes with transparency, alpha, 16-bit,
CMYK, MPO."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def scene(size: tuple[int, int], seed: int = 0) -> Image.Image:
    """A non-uniform RGB image (so a wrong crop, flip or channel order shows)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(4, 5, 3), dtype=np.uint8)
    return Image.fromarray(small).resize(size, Image.Resampling.BICUBIC)


def halves(size: tuple[int, int]) -> Image.Image:
    """Left half white, right half black: EXIF rotations move the white half."""
    image = Image.new("RGB", size, (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, size[0] // 2, size[1]))
    return image


def with_orientation(image: Image.Image, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(image, "JPEG", quality=95, exif=exif.tobytes())


def palette_with_transparency() -> bytes:
    image = Image.new("P", (40, 30), 0)
    image.putpalette([0, 0, 0, 200, 20, 20])
    image.paste(1, (0, 0, 20, 30))  # left half red, right half transparent
    return encode(image, "PNG", transparency=0)


def sixteen_bit_grey(value: int) -> bytes:
    return encode(Image.fromarray(np.full((30, 40), value, dtype=np.uint16)), "PNG")


def mpo(first: tuple[int, int, int], second: tuple[int, int, int]) -> bytes:
    frames = [Image.new("RGB", (64, 48), first), Image.new("RGB", (64, 48), second)]
    return encode(frames[0], "MPO", save_all=True, append_images=frames[1:])


INPUTS: dict[str, bytes] = {
    "4:3 JPEG": encode(scene((640, 480)), "JPEG", quality=90),
    "3:4 JPEG": encode(scene((480, 640), 1), "JPEG", quality=90),
    "16:9 progressive JPEG": encode(scene((1280, 720), 2), "JPEG", progressive=True),
    "4:3 PNG": encode(scene((64, 48), 3), "PNG"),
    "EXIF 6 JPEG": with_orientation(halves((64, 48)), 6),
    "EXIF 3 JPEG": with_orientation(halves((64, 48)), 3),
    "EXIF 8 JPEG": with_orientation(halves((64, 48)), 8),
    "palette PNG": encode(scene((40, 30), 4).convert("P"), "PNG"),
    "palette + transparency PNG": palette_with_transparency(),
    "RGBA PNG": encode(Image.new("RGBA", (40, 30), (10, 200, 10, 64)), "PNG"),
    "LA PNG": encode(Image.new("LA", (40, 30), (0, 128)), "PNG"),
    "1-bit PNG": encode(scene((40, 30), 5).convert("1"), "PNG"),
    "16-bit grey PNG": sixteen_bit_grey(32896),
    "16-bit RGB PNG": encode(scene((40, 30), 6), "PNG", bits=16),
    "grey JPEG": encode(scene((40, 30), 7).convert("L"), "JPEG"),
    "CMYK JPEG": encode(Image.new("CMYK", (40, 30), (0, 255, 255, 0)), "JPEG", quality=95),
    "MPO": mpo((200, 10, 10), (10, 200, 10)),
}

"""The one factory of real image bytes for every test (encoded by Pillow, or built chunk by chunk
where a test needs a PNG that Pillow would not write: a bomb's header, chosen filter rows)."""

from __future__ import annotations

import io
import random
import struct
import zlib

import numpy as np
from PIL import Image

RED = (200, 30, 30)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COLOUR_TYPES = {"L": 0, "RGB": 2, "LA": 4, "RGBA": 6}


def encode(
    pixels: Image.Image | np.ndarray, fmt: str = "PNG", *, mode: str | None = None, **save: object
) -> bytes:
    """``pixels`` (an image or an HxW[x3] uint8/uint16 array) encoded as ``fmt``; ``mode``
    converts first; ``save`` goes to Pillow (PNG defaults to the fastest compression)."""
    image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels)
    if mode:
        image = image.convert(mode)
    if fmt == "PNG":
        save = {"compress_level": 1, **save}
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save)
    return buffer.getvalue()


def solid(
    size: tuple[int, int] = (32, 32),
    fmt: str = "PNG",
    colour: tuple[int, ...] | int = RED,
    mode: str = "RGB",
) -> bytes:
    """One colour, any size, format and mode."""
    return encode(Image.new(mode, size, colour), fmt)


def seeded(
    seed: object, size: tuple[int, int] = (32, 32), *, noise: bool = False, fmt: str = "PNG"
) -> bytes:
    """Bytes that differ per seed (canned endpoint answers are memoised by body): one colour,
    or per-pixel noise (incompressible, for size limits)."""
    rng = random.Random(str(seed))
    if noise:
        image = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    else:
        image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    return encode(image, fmt)


def _chunk(kind: bytes, body: bytes, corrupt_crc: bool = False) -> bytes:
    crc = zlib.crc32(kind + body) ^ int(corrupt_crc)
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def png_from_rows(
    mode: str,
    width: int,
    height: int,
    rows: bytes,
    interlace: int = 0,
    corrupt_crc: bool = False,
) -> bytes:
    """An 8-bit PNG whose IDAT holds exactly these filtered rows (any bytes after each row's
    filter type are valid filtered data, so every filter type 0-4 can be exercised on purpose),
    or rows that do not fit the header at all (a bomb's shape: a huge header, a tiny stream)."""
    header = struct.pack(">IIBBBBB", width, height, 8, _PNG_COLOUR_TYPES[mode], 0, 0, interlace)
    return (
        _PNG_SIGNATURE
        + _chunk(b"IHDR", header, corrupt_crc)
        + _chunk(b"IDAT", zlib.compress(rows, 6), corrupt_crc)
        + _chunk(b"IEND", b"", corrupt_crc)
    )


def png_declaring(width: int, height: int) -> bytes:
    """A valid RGB PNG header declaring any size over 16 zero bytes of image data."""
    return png_from_rows("RGB", width, height, b"\x00" * 16)

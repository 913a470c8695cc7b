"""Pillow gate: only readable PNG/JPEG within the limits pass; everything else is InvalidImage."""

from __future__ import annotations

import pytest

from lambdas.shared.errors import InvalidImage
from lambdas.shared.images import ImageLimits, inspect_image, sniff_format
from tests import images

LIMITS = ImageLimits()


@pytest.mark.parametrize(("fmt", "content_type"), [("PNG", "image/png"), ("JPEG", "image/jpeg")])
def test_png_and_jpeg_pass_with_their_content_type(fmt, content_type):
    data = images.solid((64, 48), fmt)
    info = inspect_image(data, LIMITS)
    assert (info.format, info.content_type, info.width, info.height) == (fmt, content_type, 64, 48)
    assert info.size_bytes == len(data)


def test_grayscale_and_rgba_pngs_pass():
    assert inspect_image(images.solid(mode="L", colour=7), LIMITS).format == "PNG"
    assert inspect_image(images.solid(mode="RGBA", colour=(1, 2, 3, 4)), LIMITS).format == "PNG"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"hello world", "magic"),
        (images.solid(fmt="GIF"), "GIF images are not supported"),
        (images.solid(fmt="BMP"), "BMP images are not supported"),
        (b"\x00\x00\x00\x18ftypheic" + b"\x00" * 32, "HEIC"),  # refused with or without heif
        (images.solid()[:40], "PNG"),
        (images.solid(fmt="JPEG")[:200], "JPEG"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "PNG"),
        (images.png_declaring(100_000, 100_000), "bomb"),
        (images.png_declaring(0, 10), "PNG"),
        (images.solid((4, 4)), "minimum side"),
        (images.solid((200, 20)), "aspect ratio"),
    ],
)
def test_bad_images_are_invalid_image(data, reason):
    with pytest.raises(InvalidImage, match=reason):
        inspect_image(data, LIMITS)


def test_byte_limit_is_checked_before_decoding():
    with pytest.raises(InvalidImage, match="above the limit of 100"):
        inspect_image(images.solid((64, 64)), ImageLimits(max_bytes=100))


def test_maximum_side():
    with pytest.raises(InvalidImage, match="maximum side"):
        inspect_image(images.solid((300, 300)), ImageLimits(max_side=256))


def test_sniff_format_reads_magic_bytes_only():
    assert sniff_format(b"\xff\xd8\xff\xe0rest") == "JPEG"
    assert sniff_format(b"GIF89a") == "GIF"  # named, to be refused by name
    assert sniff_format(b"hello") is None

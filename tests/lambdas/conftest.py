"""Helpers for the Lambda tests: real image bytes, fresh per-test settings and clients."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from lambdas.classify_image import handler as classify_handler
from lambdas.filter_inferences import handler as filter_handler
from lambdas.record_label import handler as record_handler
from lambdas.serialize_image import handler as serialize_handler
from lambdas.shared import aws


def image_bytes(size=(32, 32), fmt="PNG", color=(200, 30, 30), mode="RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, fmt)
    return buffer.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A PNG header that declares any size (valid CRC), with one tiny IDAT: a bomb's shape."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(autouse=True)
def fresh_containers():
    """Each test is a cold start: settings re-read, clients re-created (new endpoint URL)."""
    modules = (serialize_handler, classify_handler, filter_handler, record_handler)
    for module in modules:
        module.settings.cache_clear()
    aws.client.cache_clear()
    yield
    for module in modules:
        module.settings.cache_clear()
    aws.client.cache_clear()


class Context:
    function_name = "test"
    aws_request_id = "req-1"

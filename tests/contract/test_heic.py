"""HEIC, the iPhone camera's own format: accepted where pillow-heif is installed (the opt-in
`lambdas/build.py --with-heif` layer, the dev environment), refused with advice where it is not.

The photos are real HEIC bytes written by pillow-heif's encoder (libheif + x265)."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from contract import DEFAULT_LIMITS, IMAGE_SIZE
from contract.images import HEIF_ENABLED, ImageRejected, prepare_image, read_header
from lambdas.shared.images import prepare_upload
from tests.contract.cases import encode, scene

# Encoding HEIC needs pillow-heif; the refusal without it (last test) runs everywhere.
needs_heif = pytest.mark.skipif(not HEIF_ENABLED, reason="pillow-heif is not installed")

ROOT = Path(__file__).resolve().parents[2]
# A phone-shaped photo held sideways: stored 2016x1512 (a quarter of a 12 MP iPhone frame, to
# keep the x265 encode short) with EXIF orientation 6, so upright it is 1512x2016.
STORED = (2016, 1512)
ROTATE_90_CW = 6


def photo_bytes(fmt: str) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = ROTATE_90_CW
    return encode(scene(STORED, seed=7), fmt, quality=95, exif=exif.tobytes())


@pytest.fixture(scope="module")
def heic() -> bytes:
    return photo_bytes("HEIF")


@pytest.fixture(scope="module")
def jpeg() -> bytes:
    return photo_bytes("JPEG")


@needs_heif
def test_the_encoder_wrote_a_heic_container(heic: bytes) -> None:
    assert heic[4:12] == b"ftypheic"


@needs_heif
def test_a_heic_photo_prepares_to_the_pixels_of_the_same_photo_as_jpeg(
    heic: bytes, jpeg: bytes
) -> None:
    header = read_header(heic)
    assert (header.format, header.content_type) == ("HEIC", "image/heic")
    assert (header.width, header.height) == (STORED[1], STORED[0])  # upright, from the header
    from_heic = np.asarray(prepare_image(heic), dtype=np.int16)
    from_jpeg = np.asarray(prepare_image(jpeg), dtype=np.int16)
    assert from_heic.shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
    difference = np.abs(from_heic - from_jpeg)
    assert difference.mean() < 2.0, difference.mean()
    assert difference.max() <= 12, difference.max()
    # A missed or doubled rotation would move the scene: far beyond the codecs' differences.
    rotated_wrong = np.asarray(prepare_image(jpeg).transpose(Image.Transpose.ROTATE_180))
    assert np.abs(from_heic - rotated_wrong.astype(np.int16)).mean() > 10


@needs_heif
def test_the_gate_hands_the_endpoint_a_png_never_heic(heic: bytes) -> None:
    prepared = prepare_upload(heic, DEFAULT_LIMITS)
    assert prepared.info.content_type == "image/heic"
    with Image.open(io.BytesIO(prepared.png)) as sent:
        assert (sent.format, sent.size, sent.mode) == ("PNG", (IMAGE_SIZE, IMAGE_SIZE), "RGB")
        assert np.array_equal(np.asarray(sent), np.asarray(prepare_image(heic)))


def with_declared_size(heic: bytes, width: int, height: int) -> bytes:
    """The same bytes with the primary image's `ispe` box declaring another size."""
    at = heic.index(b"ispe")
    # ispe: [size][ 'ispe' ][version+flags: 4][width: 4][height: 4]
    return heic[: at + 8] + struct.pack(">II", width, height) + heic[at + 16 :]


@needs_heif
def test_a_bomb_sized_heic_header_is_refused_before_decoding(
    heic: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    bomb = with_declared_size(heic, 9_000, 9_000)

    def no_decode(self: Image.Image) -> None:
        raise AssertionError("pixels were decoded")

    heif_plugin = pytest.importorskip("pillow_heif.as_plugin")  # the optional HEIC opener
    monkeypatch.setattr(heif_plugin._LibHeifImageFile, "load", no_decode)
    with pytest.raises(ImageRejected, match=r"9000x9000 is above the pixel limit"):
        prepare_image(bomb)


@needs_heif
def test_corrupt_heic_data_is_a_typed_refusal(heic: bytes) -> None:
    with pytest.raises(ImageRejected, match=r"HEIC"):
        prepare_image(heic[: len(heic) // 2])


def test_without_pillow_heif_heic_is_refused_with_advice() -> None:
    check = (
        "import sys; sys.modules['pillow_heif'] = None\n"
        "from contract.images import HEIF_ENABLED, ImageRejected, prepare_image\n"
        "assert not HEIF_ENABLED\n"
        "try:\n"
        "    prepare_image(sys.stdin.buffer.read())\n"
        "except ImageRejected as error:\n"
        "    print(error)\n"
    )
    refused = subprocess.run(
        [sys.executable, "-c", check],
        # An iPhone HEIC's first box: the refusal comes from the magic bytes, before any parsing.
        input=b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64,
        capture_output=True,
        cwd=ROOT,
        check=True,
    )
    message = refused.stdout.decode()
    assert message.startswith("HEIC/HEIF photos are not supported: send JPEG or PNG"), message
    assert "--with-heif" in message

"""Phone photos as they come: 12, 24 and 48 MP JPEGs pass the gate and become the model's input,
the same pixels wherever they enter; bombs are still refused from the header."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from contract import DEFAULT_LIMITS, IMAGE_SIZE
from contract.images import ImageRejected, decode_upright, prepare_image
from devkit.photos import PHONE_SIZES, phone_jpeg
from lambdas.shared.errors import InvalidImage
from lambdas.shared.images import prepare_upload
from serving.inference import input_fn
from tests import images
from training.data.images import decode_image as staging_decode


@pytest.fixture(scope="module", params=[12, 24, 48])
def photo(request: pytest.FixtureRequest) -> tuple[int, bytes]:
    return request.param, phone_jpeg(request.param, seed=request.param)


def test_phone_jpegs_pass_the_gate_as_a_small_png(photo: tuple[int, bytes]) -> None:
    megapixels, data = photo
    assert len(data) <= DEFAULT_LIMITS.max_bytes
    prepared = prepare_upload(data, DEFAULT_LIMITS)
    assert (prepared.info.format, prepared.info.width, prepared.info.height) == (
        "JPEG",
        *PHONE_SIZES[megapixels],
    )
    assert len(prepared.png) < 4 * IMAGE_SIZE * IMAGE_SIZE  # a few KB, whatever the upload
    with Image.open(io.BytesIO(prepared.png)) as image:
        gate_pixels = np.asarray(image)
    assert gate_pixels.shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
    np.testing.assert_array_equal(staging_decode(data), gate_pixels)
    served = input_fn(data, "image/jpeg")[0].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal((served * 255).round().astype(np.uint8), gate_pixels)


def test_large_jpegs_decode_at_reduced_size(photo: tuple[int, bytes]) -> None:
    """DCT scaling: 1/8 of each side (still at least 8x the model's side)."""
    megapixels, data = photo
    _, upright = decode_upright(data)
    width, height = PHONE_SIZES[megapixels]
    assert upright.size == (-(-width // 8), -(-height // 8))
    assert min(upright.size) >= 8 * IMAGE_SIZE


def test_portrait_and_mpo_phone_photos() -> None:
    portrait = phone_jpeg(12, seed=5, orientation=6)  # the sensor's landscape, turned upright
    _, upright = decode_upright(portrait)
    assert upright.width < upright.height
    mpo = phone_jpeg(12, seed=5, mpo=True)  # what many phones write: a JPEG with a 2nd frame
    plain = phone_jpeg(12, seed=5)
    assert prepare_upload(mpo, DEFAULT_LIMITS).info.format == "JPEG"
    difference = np.asarray(prepare_image(mpo), np.int16) - np.asarray(prepare_image(plain))
    assert np.abs(difference).mean() < 3  # the same photo (the encoders' settings differ)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (images.png_declaring(8064, 6048), "pixels per byte"),  # 48 MP in ~100 bytes
        (images.png_declaring(9000, 6000), "pixel limit"),  # 54 MP
        (images.png_declaring(12_000, 3_000), "maximum side"),
    ],
)
def test_bombs_are_refused_from_the_header(data: bytes, reason: str) -> None:
    with pytest.raises(ImageRejected, match=reason):
        prepare_image(data)
    with pytest.raises(InvalidImage, match=reason):
        prepare_upload(data, DEFAULT_LIMITS)


def test_a_jpeg_declaring_too_many_pixels_is_refused_before_decoding() -> None:
    small = io.BytesIO()
    Image.new("RGB", (64, 48)).save(small, format="JPEG")
    data = bytearray(small.getvalue())
    start = data.index(b"\xff\xc0")  # SOF0: length (2), precision (1), height (2), width (2)
    data[start + 5 : start + 9] = struct.pack(">HH", 8000, 8000)  # 64 MP declared
    with pytest.raises(ImageRejected, match="pixel limit"):
        prepare_image(bytes(data))

"""The one image preparation, through every caller: the same pixels or the same typed refusal.

Callers: staging (`training.data.images.decode_image`), training's image sets
(`training.dataset.load_folder`), the endpoint's `input_fn`, and the upload gate
(`lambdas.shared.images.prepare_upload`, whose PNG the workflow sends to the endpoint).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from contract import DEFAULT_LIMITS, IMAGE_SIZE
from contract.images import ImageRejected, prepare_image, read_header
from lambdas.shared.errors import InvalidImage
from lambdas.shared.images import prepare_upload
from serving.inference import InvalidImageError, input_fn
from tests.contract.cases import INPUTS, encode, sixteen_bit_grey
from training.data.images import decode_image as staging_decode
from training.dataset import load_folder


def via_staging(data: bytes) -> np.ndarray:
    return staging_decode(data)


def via_endpoint(data: bytes) -> np.ndarray:
    tensor = input_fn(data, "application/x-image")
    return (tensor[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def via_gate_then_endpoint(data: bytes) -> np.ndarray:
    """The workflow: the gate prepares, the endpoint receives the gate's PNG."""
    return via_endpoint(prepare_upload(data, DEFAULT_LIMITS).png)


def via_gate(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(prepare_upload(data, DEFAULT_LIMITS).png)) as image:
        assert (image.format, image.mode) == ("PNG", "RGB")
        return np.asarray(image)


CALLERS: dict[str, Callable[[bytes], np.ndarray]] = {
    "staging": via_staging,
    "endpoint": via_endpoint,
    "gate": via_gate,
    "gate then endpoint": via_gate_then_endpoint,
}


@pytest.mark.parametrize("name", list(INPUTS))
def test_every_caller_gets_the_same_pixels(name: str) -> None:
    expected = np.asarray(prepare_image(INPUTS[name]))
    assert expected.shape == (IMAGE_SIZE, IMAGE_SIZE, 3) and expected.dtype == np.uint8
    for caller, prepare in CALLERS.items():
        np.testing.assert_array_equal(prepare(INPUTS[name]), expected, err_msg=caller)


def test_training_image_sets_get_the_same_pixels(tmp_path: Path) -> None:
    folder = tmp_path / "bicycle"
    folder.mkdir()
    names = ["4:3 JPEG", "EXIF 6 JPEG", "16-bit grey PNG", "CMYK JPEG", "MPO"]
    for index, name in enumerate(names):
        suffix = ".png" if name.endswith("PNG") else ".jpg"
        (folder / f"{index}{suffix}").write_bytes(INPUTS[name])
    images = load_folder(tmp_path, require_all_classes=False).channels_first
    for index, name in enumerate(names):
        expected = np.asarray(prepare_image(INPUTS[name])).transpose(2, 0, 1)
        np.testing.assert_array_equal(images[index], expected, err_msg=name)


def test_the_geometry_is_the_centred_square_crop() -> None:
    wide = Image.new("RGB", (96, 32), (255, 0, 0))
    wide.paste((0, 0, 255), (32, 0, 64, 32))  # only the centre third is blue
    pixels = np.asarray(prepare_image(encode(wide, "PNG")))
    assert (pixels == (0, 0, 255)).all()


@pytest.mark.parametrize(
    ("orientation", "white_at"),
    [(6, "top"), (3, "right"), (8, "bottom")],
)
def test_exif_orientation_is_applied(orientation: int, white_at: str) -> None:
    """64x48 left-white: turned upright, the white half sits where the camera saw it."""
    pixels = np.asarray(prepare_image(INPUTS[f"EXIF {orientation} JPEG"])).mean(axis=2)
    top, bottom = pixels[:8].mean(), pixels[-8:].mean()
    left, right = pixels[:, :8].mean(), pixels[:, -8:].mean()
    brighter = {"top": top - bottom, "bottom": bottom - top, "right": right - left}
    assert brighter[white_at] > 200


def test_colour_modes_convert_correctly() -> None:
    def centre(name: str) -> tuple[int, ...]:
        return tuple(int(v) for v in np.asarray(prepare_image(INPUTS[name]))[16, 16])

    assert centre("16-bit grey PNG") == (128, 128, 128)  # not white: 16 bits scaled to 8
    assert np.asarray(prepare_image(sixteen_bit_grey(65535))).min() == 255
    assert np.asarray(prepare_image(sixteen_bit_grey(0))).max() == 0
    red, green, blue = centre("CMYK JPEG")
    assert red > 240 and green < 15 and blue < 15
    assert centre("MPO")[0] > 190  # the first frame (red), not the second (green)
    assert centre("LA PNG") == (127, 127, 127)  # black at half opacity over white
    assert centre("RGBA PNG") == (194, 241, 194)  # green at 1/4 opacity over white
    palette = np.asarray(prepare_image(INPUTS["palette + transparency PNG"]))
    assert tuple(palette[16, 2]) == (200, 20, 20) and tuple(palette[16, 29]) == (255, 255, 255)


def test_an_mpo_is_a_jpeg_to_the_gate() -> None:
    assert read_header(INPUTS["MPO"]).format == "JPEG"
    assert prepare_upload(INPUTS["MPO"], DEFAULT_LIMITS).info.content_type == "image/jpeg"


REFUSED: dict[str, bytes] = {
    "empty": b"",
    "text": b"hello, not an image",
    "GIF": encode(Image.new("RGB", (32, 32)), "GIF"),
    "WebP": encode(Image.new("RGB", (32, 32)), "WEBP"),
    "corrupt HEIC": b"\x00\x00\x00\x18ftypheic" + b"\x00" * 64,
    "truncated JPEG": INPUTS["4:3 JPEG"][: len(INPUTS["4:3 JPEG"]) // 2],
    "truncated PNG": INPUTS["4:3 PNG"][: len(INPUTS["4:3 PNG"]) // 2],
    "too small": encode(Image.new("RGB", (4, 4)), "PNG"),
    "too thin": encode(Image.new("RGB", (200, 20)), "PNG"),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_every_caller_refuses_with_the_same_typed_error(name: str) -> None:
    with pytest.raises(ImageRejected) as refused:
        prepare_image(REFUSED[name])
    message = str(refused.value)
    with pytest.raises(ImageRejected, match=re.escape(message)):
        via_staging(REFUSED[name])
    with pytest.raises(InvalidImage) as gate:
        prepare_upload(REFUSED[name], DEFAULT_LIMITS)
    with pytest.raises(InvalidImageError) as endpoint:
        input_fn(REFUSED[name], "image/jpeg")
    assert str(gate.value) == message
    assert endpoint.value.status_code == 400
    assert str(endpoint.value) == message


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(sorted(INPUTS)),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4),
    st.integers(0, 10**6),
)
def test_fuzzed_images_give_the_model_input_or_a_typed_error(
    name: str, flips: list[tuple[int, int]], cut: int
) -> None:
    """Damaged real images (bytes changed, truncated): ImageRejected or a correct-shape result."""
    data = bytearray(INPUTS[name])
    for position, value in flips:
        data[position % len(data)] = value
    data = data[: max(1, len(data) - cut % 64)] if cut % 3 == 0 else data
    try:
        image = prepare_image(bytes(data))
    except ImageRejected:
        return
    assert (image.mode, image.size) == ("RGB", (IMAGE_SIZE, IMAGE_SIZE))


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=512))
def test_fuzzed_bytes_give_a_typed_error(data: bytes) -> None:
    try:
        image = prepare_image(data)
    except ImageRejected:
        return
    assert image.size == (IMAGE_SIZE, IMAGE_SIZE)

"""Image decoding (fast PNG path == Pillow) and what each feature responds to."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFilter

from monitoring import features
from tests.monitoring import synthetic

RNG = np.random.default_rng(5)
SCENE = synthetic.scene(RNG)


def _pillow_rgb(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest.mark.parametrize(
    ("mode", "save"),
    [
        ("RGB", {}),
        ("RGBA", {}),
        ("L", {}),
        ("LA", {}),
        ("P", {}),
        ("RGB", {"interlace": 1}),
        ("I;16", {}),
    ],
)
def test_png_decoding_matches_pillow(mode, save):
    data = synthetic.png(SCENE, mode=mode, **save)
    array, image_format = features.decode_image(data)
    assert image_format == "PNG"
    assert array.dtype == np.uint8 and array.shape == (32, 32, 3)
    np.testing.assert_array_equal(array, _pillow_rgb(data))


def test_jpeg_and_other_formats_go_through_pillow():
    buffer = io.BytesIO()
    Image.fromarray(SCENE).save(buffer, format="JPEG", quality=90)
    array, image_format = features.decode_image(buffer.getvalue())
    assert image_format == "JPEG" and array.shape == (32, 32, 3)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not an image",
        synthetic.png(SCENE)[:60],
        synthetic.png(SCENE)[:-30],
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
    ],
)
def test_corrupt_images_raise_a_typed_error(data):
    with pytest.raises(features.ImageDecodeError):
        features.decode_image(data)


def test_large_images_are_shrunk_before_statistics():
    big = np.zeros((1200, 800, 3), np.uint8)
    array, _ = features.decode_image(synthetic.png(big))
    assert max(array.shape[:2]) == features.MAX_SIDE


def _one(array: np.ndarray) -> dict[str, float]:
    return {k: float(v[0]) for k, v in features.image_features(array[None]).items()}


def test_constant_image_features_by_hand():
    image = np.zeros((32, 32, 3), np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 200, 100, 50
    values = _one(image)
    assert (values["brightness_r"], values["brightness_g"], values["brightness_b"]) == (
        200,
        100,
        50,
    )
    assert values["contrast"] == pytest.approx(0.0, abs=1e-3)
    assert values["saturation"] == pytest.approx((200 - 50) / 200)
    assert values["sharpness"] == pytest.approx(0.0, abs=1e-6)
    assert values["vertical_balance"] == pytest.approx(0.0, abs=1e-3)
    assert (values["width"], values["height"]) == (32, 32)


def test_features_respond_to_the_drifts_they_are_for():
    clean = _one(SCENE)
    blurred = _one(np.asarray(Image.fromarray(SCENE).filter(ImageFilter.GaussianBlur(1.5))))
    noisy = _one(np.clip(SCENE + RNG.normal(0, 30, SCENE.shape), 0, 255).astype(np.uint8))
    flipped = _one(SCENE[::-1].copy())
    turned = _one(np.rot90(SCENE).copy())
    assert blurred["sharpness"] < clean["sharpness"] < noisy["sharpness"]
    assert flipped["vertical_balance"] == pytest.approx(-clean["vertical_balance"], abs=1e-3)
    assert turned["edge_orientation"] == pytest.approx(1 - clean["edge_orientation"], abs=1e-3)
    grey = _one(np.repeat(SCENE.mean(axis=2, keepdims=True), 3, axis=2).astype(np.uint8))
    assert grey["saturation"] < 0.02 < clean["saturation"]


def test_blockiness_sees_jpeg_blocks():
    smooth = np.asarray(Image.fromarray(SCENE).filter(ImageFilter.GaussianBlur(0.7)))
    buffer = io.BytesIO()
    Image.fromarray(smooth).save(buffer, format="JPEG", quality=10)
    compressed = np.asarray(Image.open(buffer).convert("RGB"))
    assert _one(compressed)["blockiness"] > _one(smooth)["blockiness"]


def test_batcher_groups_by_size_and_flushes_everything():
    batcher = features.ImageBatcher(batch_size=3)
    due = []
    for size in (32, 32, 16, 32, 16):
        due += batcher.add(np.zeros((size, size, 3), np.uint8))
    due += batcher.flush()
    assert sorted(len(batch["width"]) for batch in due) == [2, 3]
    assert batcher.flush() == []


def test_prediction_features():
    assert features.prediction_features([0.2, 0.8]) == (1, 0.8, True)
    assert features.prediction_features([0.95, 0.05]) == (0, 0.95, False)


def test_png_with_idat_letters_in_text_and_several_idat_chunks():
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "IDAT IDAT IEND")  # the letters must not fool the fast path
    data = synthetic.png(SCENE, pnginfo=info)
    assert data.index(b"IDAT") < data.rindex(b"IDAT")
    np.testing.assert_array_equal(features.decode_image(data)[0], _pillow_rgb(data))
    # split the image data into three IDAT chunks, as large encoders do
    import struct
    import zlib

    start = data.rindex(b"IDAT") - 4
    (length,) = struct.unpack(">I", data[start : start + 4])
    payload = data[start + 8 : start + 8 + length]
    parts = [payload[:10], payload[10:40], payload[40:]]
    chunks = b"".join(
        struct.pack(">I", len(p)) + b"IDAT" + p + struct.pack(">I", zlib.crc32(b"IDAT" + p))
        for p in parts
    )
    split = data[:start] + chunks + data[start + 12 + length :]
    np.testing.assert_array_equal(features.decode_image(split)[0], _pillow_rgb(data))

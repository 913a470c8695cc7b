"""Image decoding (fast PNG path == Pillow) and what each feature responds to."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFilter, PngImagePlugin

from contract.images import to_rgb
from monitoring import features, png_records
from tests import images
from tests.monitoring import batched_paths, synthetic

RNG = np.random.default_rng(5)
SCENE = synthetic.scene(RNG)


def _pillow_rgb(data: bytes) -> np.ndarray:
    """Pillow's pixels, converted to RGB as the contract converts (16-bit scaled, not clipped)."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return np.asarray(image.convert("RGB") if image.mode in _EIGHT_BIT else to_rgb(image))


_EIGHT_BIT = {"L", "LA", "RGB", "RGBA"}  # the fast paths: alpha dropped


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
    data = images.encode(SCENE, mode=mode, **save)
    array, image_format = features.decode_image(data)
    assert image_format == "PNG"
    assert array.dtype == np.uint8 and array.shape == (32, 32, 3)
    np.testing.assert_array_equal(array, _pillow_rgb(data))


def test_sixteen_bit_greyscale_is_scaled_not_clipped():
    """A mid-grey 16-bit PNG is mid-grey to the drift job too (convert("RGB") made it white)."""
    data = images.encode(np.full((32, 32), 32896, np.uint16), mode="I;16")
    array, _ = features.decode_image(data)
    assert (array == 128).all()


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
        images.encode(SCENE)[:60],
        images.encode(SCENE)[:-30],
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
    ],
)
def test_corrupt_images_raise_a_typed_error(data):
    with pytest.raises(features.ImageDecodeError):
        features.decode_image(data)


def test_large_images_are_shrunk_before_statistics():
    big = np.zeros((1200, 800, 3), np.uint8)
    array, _ = features.decode_image(images.encode(big))
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
    """Below means top probability < threshold: exactly the filter's complement of routed."""
    assert features.prediction_features([0.2, 0.8], 0.9) == (1, 0.8, True)
    assert features.prediction_features([0.95, 0.05], 0.9) == (0, 0.95, False)
    assert features.prediction_features([0.1, 0.9], 0.9) == (1, 0.9, False)  # routed at equality


def test_png_with_idat_letters_in_text_and_several_idat_chunks():
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "IDAT IDAT IEND")  # the letters must not fool the fast path
    data = images.encode(SCENE, pnginfo=info)
    assert data.index(b"IDAT") < data.rindex(b"IDAT")
    np.testing.assert_array_equal(features.decode_image(data)[0], _pillow_rgb(data))
    # split the image data into three IDAT chunks, as large encoders do
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
    batched_paths.assert_same([data, split, data[:-30], split[: start + 40]], batch_size=4)
    if png_records.AVAILABLE:  # the compiled path joins the split image data itself
        done, _ = png_records.png_records([data, split], png_records.Decompressor(), 512)
        assert done.all()


@pytest.mark.skipif(not png_records.AVAILABLE, reason="numba or libdeflate's C API absent")
def test_compiled_record_path_takes_plain_pngs_and_leaves_the_rest():
    rng = np.random.default_rng(8)
    plain = [
        images.png_from_rows(
            mode, width, height, batched_paths.random_rows(rng, mode, width, height)
        )
        for mode in ("L", "LA", "RGB", "RGBA")
        for width, height in ((32, 32), (1, 1), (3, 40), (512, 2))
    ]
    rows = bytearray(batched_paths.random_rows(rng, "RGB", 8, 8))
    rows[25] = 5  # the second row's filter type
    left = [
        images.png_from_rows("RGB", 8, 8, bytes(rows)),
        images.png_from_rows("RGB", 8, 8, bytes(rows[:-1])),  # one byte short
        images.png_from_rows("RGB", 513, 1, bytes(1 + 513 * 3)),  # wider than MAX_SIDE
        images.png_from_rows("RGB", 8, 8, batched_paths.random_rows(rng, "RGB", 8, 8), interlace=1),
        images.encode(SCENE, mode="P"),
        images.encode(SCENE, mode="I;16"),
        b"",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
    ]
    done, statistics = png_records.png_records(plain + left, png_records.Decompressor(), 512)
    assert done.tolist() == [True] * len(plain) + [False] * len(left)
    assert statistics.shape == (len(plain + left), len(features.IMAGE_NUMERIC))
    batched_paths.assert_same(plain + left, batch_size=5)


# -- the batched PNG path (ImageBatcher.add_encoded) against decode_image, image by image ------


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
def test_batched_png_rows_with_every_filter_type_match_pillow(mode):
    rng = np.random.default_rng(len(mode))
    items = []
    for width, height in [(32, 32), (32, 32), (32, 32), (7, 5), (1, 1), (17, 40), (32, 32)]:
        rows = batched_paths.random_rows(rng, mode, width, height)
        data = images.png_from_rows(mode, width, height, rows)
        items.append(data)
        rgb = _pillow_rgb(data)
        np.testing.assert_array_equal(features.decode_image(data)[0], rgb)
        (found, w, h, filtered) = features.png_rows(data)  # type: ignore[misc]
        assert (found, w, h, filtered) == (mode, width, height, rows)
        np.testing.assert_array_equal(features.unfilter_png_rows(mode, w, h, [filtered])[0], rgb)
    batched_paths.assert_same(items, batch_size=3)


def test_batched_path_hands_odd_pngs_to_the_reference_decoder():
    rng = np.random.default_rng(11)
    rows = batched_paths.random_rows(rng, "RGB", 32, 32)
    good = images.png_from_rows("RGB", 32, 32, rows)
    bad_filter = bytearray(rows)
    bad_filter[0] = 5
    odd = [
        images.png_from_rows("RGB", 32, 32, bytes(bad_filter)),  # filter type 5: Pillow refuses
        images.png_from_rows("RGB", 32, 32, rows[:-50]),  # rows missing
        images.png_from_rows("RGB", 32, 32, rows + b"\x00" * 97),  # a row too many
        images.png_from_rows("RGB", 32, 32, rows, corrupt_crc=True),  # CRCs are not checked
        good[:-40],  # truncated stream
        images.encode(SCENE, mode="P"),
        images.encode(SCENE, interlace=1),
        images.encode(SCENE, mode="I;16"),
        images.encode(np.zeros((600, 40, 3), np.uint8)),  # larger than MAX_SIDE: shrunk
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
        b"not an image",
    ]
    for data in odd[:3] + odd[4:5]:
        assert features.png_rows(data) is None
    buffer = io.BytesIO()
    Image.fromarray(SCENE).save(buffer, format="JPEG")
    batched_paths.assert_same([good, *odd, buffer.getvalue(), good], batch_size=2)


@settings(max_examples=60, deadline=None)
@given(
    row=st.integers(min_value=0, max_value=7),
    filter_type=st.integers(min_value=0, max_value=255),
    mode=st.sampled_from(["L", "LA", "RGB", "RGBA"]),
)
def test_png_rows_accepts_exactly_filter_types_0_to_4(row, filter_type, mode):
    """Any row's filter type byte outside 0-4 sends the PNG to the reference decoder."""
    rows = bytearray(batched_paths.random_rows(np.random.default_rng(row), mode, 8, 8))
    rows[row * (1 + 8 * len(mode))] = filter_type
    found = features.png_rows(images.png_from_rows(mode, 8, 8, bytes(rows)))
    assert (found is not None) == (filter_type < 5)
    if found is not None:
        assert found == (mode, 8, 8, rows)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    mode=st.sampled_from(["L", "LA", "RGB", "RGBA", "P"]),
    width=st.integers(1, 40),
    height=st.integers(1, 40),
    smooth=st.booleans(),
    cut=st.integers(0, 60),
)
def test_fuzz_batched_features_equal_reference(seed, mode, width, height, smooth, cut):
    rng = np.random.default_rng(seed)
    items = []
    for index in range(5):
        if smooth:  # Pillow's own encoder: adaptive filters on photo-like content
            array = synthetic.scene(rng, max(width, height, 16))[:height, :width]
            data = images.encode(np.ascontiguousarray(array), mode=mode)
        elif mode == "P":
            data = images.encode(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), mode="P")
        else:
            data = images.png_from_rows(
                mode, width, height, batched_paths.random_rows(rng, mode, width, height)
            )
        if index == 4 and cut:
            data = data[:-cut]
        items.append(data)
    batched_paths.assert_same(items, batch_size=int(rng.integers(1, 4)))


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    mode=st.sampled_from(["L", "LA", "RGB", "RGBA"]),
    edits=st.lists(st.tuples(st.integers(8, 10_000), st.integers(0, 255)), min_size=1, max_size=3),
    split=st.booleans(),
)
def test_fuzz_corrupted_png_bytes_equal_reference(seed, mode, edits, split):
    """Bytes overwritten anywhere (chunk lengths and types, IHDR fields, the zlib stream, CRCs,
    now and then the signature): every path gives decode_image's answer, and nothing crashes (the
    compiled path reads chunk lengths from the data, without bounds checks of its own)."""
    rng = np.random.default_rng(seed)
    data = images.png_from_rows(mode, 9, 7, batched_paths.random_rows(rng, mode, 9, 7))
    if split:  # image data in two IDAT chunks
        start = data.index(b"IDAT") - 4
        (length,) = struct.unpack(">I", data[start : start + 4])
        payload = data[start + 8 : start + 8 + length]
        chunks = b"".join(
            struct.pack(">I", len(part)) + b"IDAT" + part + struct.pack(">I", zlib.crc32(part))
            for part in (payload[:7], payload[7:])
        )
        data = data[:start] + chunks + data[start + 12 + length :]
    corrupted = bytearray(data)
    for position, value in edits:
        corrupted[position % len(corrupted)] = value
    batched_paths.assert_same([bytes(corrupted), data], batch_size=2)

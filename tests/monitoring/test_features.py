"""Image decoding (fast PNG path == Pillow) and what each feature responds to."""

from __future__ import annotations

import io
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFilter

from contract.images import to_rgb
from monitoring import features, png_records
from tests.monitoring import synthetic

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
    data = synthetic.png(SCENE, mode=mode, **save)
    array, image_format = features.decode_image(data)
    assert image_format == "PNG"
    assert array.dtype == np.uint8 and array.shape == (32, 32, 3)
    np.testing.assert_array_equal(array, _pillow_rgb(data))


def test_sixteen_bit_greyscale_is_scaled_not_clipped():
    """A mid-grey 16-bit PNG is mid-grey to the drift job too (convert("RGB") made it white)."""
    data = synthetic.png(np.full((32, 32), 32896, np.uint16), mode="I;16")
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
    """Below means top probability < threshold: exactly the filter's complement of routed."""
    assert features.prediction_features([0.2, 0.8], 0.9) == (1, 0.8, True)
    assert features.prediction_features([0.95, 0.05], 0.9) == (0, 0.95, False)
    assert features.prediction_features([0.1, 0.9], 0.9) == (1, 0.9, False)  # routed at equality


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
    _assert_same([data, split, data[:-30], split[: start + 40]], batch_size=4)
    if png_records.AVAILABLE:  # the compiled path joins the split image data itself
        done, _ = png_records.png_records([data, split], png_records.Decompressor(), 512)
        assert done.all()


@pytest.mark.skipif(not png_records.AVAILABLE, reason="numba or libdeflate's C API absent")
def test_compiled_record_path_takes_plain_pngs_and_leaves_the_rest():
    rng = np.random.default_rng(8)
    plain = [
        _png_from_rows(mode, width, height, _random_rows(rng, mode, width, height))
        for mode in ("L", "LA", "RGB", "RGBA")
        for width, height in ((32, 32), (1, 1), (3, 40), (512, 2))
    ]
    rows = bytearray(_random_rows(rng, "RGB", 8, 8))
    rows[25] = 5  # the second row's filter type
    left = [
        _png_from_rows("RGB", 8, 8, bytes(rows)),
        _png_from_rows("RGB", 8, 8, bytes(rows[:-1])),  # one byte short
        _png_from_rows("RGB", 513, 1, bytes(1 + 513 * 3)),  # wider than MAX_SIDE
        _png_from_rows("RGB", 8, 8, _random_rows(rng, "RGB", 8, 8), interlace=1),
        synthetic.png(SCENE, mode="P"),
        synthetic.png(SCENE, mode="I;16"),
        b"",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
    ]
    done, statistics = png_records.png_records(plain + left, png_records.Decompressor(), 512)
    assert done.tolist() == [True] * len(plain) + [False] * len(left)
    assert statistics.shape == (len(plain + left), len(features.IMAGE_NUMERIC))
    _assert_same(plain + left, batch_size=5)


# -- the batched PNG path (ImageBatcher.add_encoded) against decode_image, image by image ------

_COLOUR_TYPES = {"L": 0, "RGB": 2, "LA": 4, "RGBA": 6}


def _png_from_rows(
    mode: str, width: int, height: int, rows: bytes, interlace: int = 0, corrupt_crc: bool = False
) -> bytes:
    """A PNG whose IDAT holds exactly these filtered rows (any bytes after each filter type
    are valid filtered data, so every filter type 0-4 can be exercised on purpose)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) ^ (1 if corrupt_crc else 0)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, _COLOUR_TYPES[mode], 0, 0, interlace)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 6))
        + chunk(b"IEND", b"")
    )


def _random_rows(rng: np.random.Generator, mode: str, width: int, height: int) -> bytes:
    stride = 1 + width * len(mode)
    rows = rng.integers(0, 256, (height, stride), dtype=np.uint8)
    rows[:, 0] = rng.integers(0, 5, height)  # filter types None, Sub, Up, Average, Paeth
    return rows.tobytes()


def _reference(data_items: list[bytes]) -> list[tuple[str, dict[str, float]] | None]:
    """Per image: decode_image + image_features on a batch of one (None: undecodable)."""
    out: list[tuple[str, dict[str, float]] | None] = []
    for data in data_items:
        try:
            array, image_format = features.decode_image(data)
        except features.ImageDecodeError:
            out.append(None)
            continue
        batch = features.image_features(array[None])
        out.append((image_format, {k: float(v[0]) for k, v in batch.items()}))
    return out


def _batched(
    data_items: list[bytes], batch_size: int = 4
) -> tuple[list[str | None], list[dict[str, float]]]:
    """The drift job's path: (format or None per image, feature rows in any order)."""
    batcher = features.ImageBatcher(batch_size=batch_size)
    formats: list[str | None] = []
    batches: list[dict[str, np.ndarray]] = []
    for data in data_items:
        try:
            image_format, due = batcher.add_encoded(data)
        except features.ImageDecodeError:
            formats.append(None)
            continue
        formats.append(image_format)
        batches += due
    batches += batcher.flush()
    rows = [
        {k: float(v[i]) for k, v in batch.items()}
        for batch in batches
        for i in range(len(batch["width"]))
    ]
    return formats, rows


def _later(
    data_items: list[bytes], batch_size: int = 4
) -> tuple[Counter[str | None], list[dict[str, float]]]:
    """The drift job's compiled path (add_later): (format counts, None: undecodable; rows)."""
    batcher = features.ImageBatcher(batch_size=batch_size)
    assert batcher.takes_later
    batches: list[dict[str, np.ndarray]] = []
    for data in data_items:
        batches += batcher.add_later(data, record_invalid=False)
    batches += batcher.flush()
    outcome = batcher.take_later_outcome()
    formats: Counter[str | None] = Counter(outcome.formats)
    if outcome.undecodable:
        formats[None] = outcome.undecodable
    assert outcome.undecodable_alone == outcome.undecodable
    rows = [
        {k: float(v[i]) for k, v in batch.items()}
        for batch in batches
        for i in range(len(batch["width"]))
    ]
    return formats, rows


def _assert_rows_match(reference: list[dict[str, float]], rows: list[dict[str, float]]) -> None:
    expected = sorted(tuple(sorted(r.items())) for r in reference)
    got = sorted(tuple(sorted(row.items())) for row in rows)
    assert len(expected) == len(got)
    for want, have in zip(expected, got, strict=True):
        for (name, a), (other, b) in zip(want, have, strict=True):
            assert name == other
            assert b == pytest.approx(a, rel=1e-5, abs=1e-4), name


def _assert_same(data_items: list[bytes], batch_size: int = 4) -> None:
    """Both batched paths (add_encoded, and add_later where compiled) give, image for image, the
    format or error and the features of decode_image + image_features."""
    reference = _reference(data_items)
    formats, rows = _batched(data_items, batch_size)
    assert [r and r[0] for r in reference] == formats
    expected = [r[1] for r in reference if r is not None]
    _assert_rows_match(expected, rows)
    if png_records.AVAILABLE:
        later_formats, later_rows = _later(data_items, batch_size)
        assert Counter(r and r[0] for r in reference) == later_formats
        _assert_rows_match(expected, later_rows)


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
def test_batched_png_rows_with_every_filter_type_match_pillow(mode):
    rng = np.random.default_rng(len(mode))
    items = []
    for width, height in [(32, 32), (32, 32), (32, 32), (7, 5), (1, 1), (17, 40), (32, 32)]:
        rows = _random_rows(rng, mode, width, height)
        data = _png_from_rows(mode, width, height, rows)
        items.append(data)
        rgb = _pillow_rgb(data)
        np.testing.assert_array_equal(features.decode_image(data)[0], rgb)
        (found, w, h, filtered) = features.png_rows(data)  # type: ignore[misc]
        assert (found, w, h, filtered) == (mode, width, height, rows)
        np.testing.assert_array_equal(features.unfilter_png_rows(mode, w, h, [filtered])[0], rgb)
    _assert_same(items, batch_size=3)


def test_batched_path_hands_odd_pngs_to_the_reference_decoder():
    rng = np.random.default_rng(11)
    rows = _random_rows(rng, "RGB", 32, 32)
    good = _png_from_rows("RGB", 32, 32, rows)
    bad_filter = bytearray(rows)
    bad_filter[0] = 5
    odd = [
        _png_from_rows("RGB", 32, 32, bytes(bad_filter)),  # filter type 5: Pillow refuses
        _png_from_rows("RGB", 32, 32, rows[:-50]),  # rows missing
        _png_from_rows("RGB", 32, 32, rows + b"\x00" * 97),  # a row too many
        _png_from_rows("RGB", 32, 32, rows, corrupt_crc=True),  # CRCs are not checked
        good[:-40],  # truncated stream
        synthetic.png(SCENE, mode="P"),
        synthetic.png(SCENE, interlace=1),
        synthetic.png(SCENE, mode="I;16"),
        synthetic.png(np.zeros((600, 40, 3), np.uint8)),  # larger than MAX_SIDE: shrunk
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
        b"not an image",
    ]
    for data in odd[:3] + odd[4:5]:
        assert features.png_rows(data) is None
    buffer = io.BytesIO()
    Image.fromarray(SCENE).save(buffer, format="JPEG")
    _assert_same([good, *odd, buffer.getvalue(), good], batch_size=2)


@settings(max_examples=60, deadline=None)
@given(
    row=st.integers(min_value=0, max_value=7),
    filter_type=st.integers(min_value=0, max_value=255),
    mode=st.sampled_from(["L", "LA", "RGB", "RGBA"]),
)
def test_png_rows_accepts_exactly_filter_types_0_to_4(row, filter_type, mode):
    """Any row's filter type byte outside 0-4 sends the PNG to the reference decoder."""
    rows = bytearray(_random_rows(np.random.default_rng(row), mode, 8, 8))
    rows[row * (1 + 8 * len(mode))] = filter_type
    found = features.png_rows(_png_from_rows(mode, 8, 8, bytes(rows)))
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
            data = synthetic.png(np.ascontiguousarray(array), mode=mode)
        elif mode == "P":
            data = synthetic.png(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "P")
        else:
            data = _png_from_rows(mode, width, height, _random_rows(rng, mode, width, height))
        if index == 4 and cut:
            data = data[:-cut]
        items.append(data)
    _assert_same(items, batch_size=int(rng.integers(1, 4)))


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
    import struct
    import zlib

    rng = np.random.default_rng(seed)
    data = _png_from_rows(mode, 9, 7, _random_rows(rng, mode, 9, 7))
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
    _assert_same([bytes(corrupted), data], batch_size=2)

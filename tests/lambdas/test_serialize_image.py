"""serialize_image: event shapes, settings, the hand-off document, and the handler against S3."""

from __future__ import annotations

import base64
import hashlib
import json

import boto3
import pytest

from lambdas.serialize_image import handler as serialize
from lambdas.serialize_image.core import SerializeSettings, hand_off, parse_event
from lambdas.shared.errors import ConfigurationError, ImageNotFound, InvalidEvent, InvalidImage
from lambdas.shared.images import inspect_image
from lambdas.shared.storage import StoredObject
from tests.lambdas.conftest import Context, image_bytes


@pytest.mark.parametrize(
    "event",
    [
        {"s3_bucket": "uploads", "s3_key": "a/b.png"},
        {"s3_bucket": "uploads", "s3_key": "a/b.png", "image_data": ""},
        {"request": {"s3_bucket": "uploads", "s3_key": "a/b.png"}, "execution_id": "arn:x"},
    ],
)
def test_accepted_event_shapes(event):
    request = parse_event(event)
    assert (request.s3_bucket, request.s3_key) == ("uploads", "a/b.png")


@pytest.mark.parametrize(
    "event",
    [
        None,
        [],
        "uploads/a.png",
        {},
        {"s3_bucket": "uploads"},
        {"s3_bucket": "Uploads!", "s3_key": "a"},
        {"s3_bucket": "uploads", "s3_key": ""},
        {"s3_bucket": "uploads", "s3_key": 7},
        {"s3_bucket": "uploads", "s3_key": "k" * 1025},
        {"s3_bucket": "uploads", "s3_key": "a", "image_data": "iVBORw0KGgo="},
        {"request": "nope"},
    ],
)
def test_malformed_events_are_invalid_event(event):
    with pytest.raises(InvalidEvent):
        parse_event(event)


def test_settings_from_env_and_their_errors():
    settings = SerializeSettings.from_env({"MAX_IMAGE_BYTES": "1000", "INLINE_MAX_BYTES": "10"})
    assert (settings.limits.max_bytes, settings.inline_max_bytes) == (1000, 10)
    assert SerializeSettings.from_env({}).inline_max_bytes == 150_000
    assert SerializeSettings.from_env({"INLINE_MAX_BYTES": "999999"}).inline_max_bytes == 200_000
    for bad in ({"MAX_IMAGE_BYTES": "lots"}, {"MAX_IMAGE_BYTES": "0"}, {"MAX_ASPECT_RATIO": "0.5"}):
        with pytest.raises(ConfigurationError):
            SerializeSettings.from_env(bad)


def test_small_images_travel_inline_large_ones_by_reference():
    data = image_bytes((32, 32))
    stored = StoredObject(data=data, etag='"e"', version_id="v1")
    request = parse_event({"s3_bucket": "uploads", "s3_key": "k.png"})
    info = inspect_image(data, SerializeSettings.from_env({}).limits)
    inline = hand_off(request, stored, info, SerializeSettings.from_env({}))["image"]
    assert base64.b64decode(inline["inline_b64"]) == data
    assert inline["sha256"] == hashlib.sha256(data).hexdigest()
    small = SerializeSettings.from_env({"INLINE_MAX_BYTES": "10"})
    reference = hand_off(request, stored, info, small)["image"]
    assert "inline_b64" not in reference
    assert (reference["version_id"], reference["etag"]) == ("v1", '"e"')


@pytest.mark.integration
def test_handler_reads_and_checks_the_object(aws):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="uploads")
    data = image_bytes((40, 30), "JPEG")
    s3.put_object(Bucket="uploads", Key="dir/ünï code.jpg", Body=data)
    result = serialize.handler({"s3_bucket": "uploads", "s3_key": "dir/ünï code.jpg"}, Context())
    image = result["image"]
    assert (image["format"], image["content_type"], image["width"], image["height"]) == (
        "JPEG",
        "image/jpeg",
        40,
        30,
    )
    assert base64.b64decode(image["inline_b64"]) == data


@pytest.mark.integration
def test_handler_errors_are_typed(aws, monkeypatch):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="uploads")
    s3.put_object(Bucket="uploads", Key="text.png", Body=b"plain text")
    s3.put_object(Bucket="uploads", Key="big.png", Body=image_bytes((64, 64)))
    with pytest.raises(ImageNotFound):
        serialize.handler({"s3_bucket": "uploads", "s3_key": "missing.png"}, Context())
    with pytest.raises(ImageNotFound):
        serialize.handler({"s3_bucket": "no-such-bucket", "s3_key": "a.png"}, Context())
    with pytest.raises(InvalidImage):
        serialize.handler({"s3_bucket": "uploads", "s3_key": "text.png"}, Context())
    monkeypatch.setenv("MAX_IMAGE_BYTES", "100")
    serialize.settings.cache_clear()
    with pytest.raises(InvalidImage, match="above the limit of 100"):
        serialize.handler({"s3_bucket": "uploads", "s3_key": "big.png"}, Context())


def noise_png(side: int) -> bytes:
    import io
    import random

    from PIL import Image

    rng = random.Random(side)
    image = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("side", [150, 200, 400])
def test_hand_off_always_fits_the_state_limit(side):
    data = noise_png(side)
    settings = SerializeSettings.from_env({})
    stored = StoredObject(data=data, etag='"e"', version_id=None)
    request = parse_event({"s3_bucket": "uploads", "s3_key": "k" * 1024})
    image = hand_off(request, stored, inspect_image(data, settings.limits), settings)["image"]
    assert ("inline_b64" in image) == (len(base64.b64encode(data)) <= 150_000)
    assert len(json.dumps(image)) < 200 * 1024

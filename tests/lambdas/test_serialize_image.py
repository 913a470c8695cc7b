"""serialize_image: event shapes, settings, the hand-off document, and the handler against S3."""

from __future__ import annotations

import base64
import hashlib
import io
import json

import boto3
import numpy as np
import pytest
from PIL import Image

from contract import DEFAULT_LIMITS
from contract.images import prepare_image
from lambdas.serialize_image import handler as serialize
from lambdas.serialize_image.core import SerializeSettings, hand_off, parse_event, validate
from lambdas.shared.errors import ConfigurationError, ImageNotFound, InvalidEvent, InvalidImage
from lambdas.shared.storage import StoredObject
from tests import images
from tests.lambdas.context import Context


def assert_same_pixels(png: bytes, expected: np.ndarray) -> None:
    with Image.open(io.BytesIO(png)) as image:
        assert (image.format, image.mode, image.size) == ("PNG", "RGB", (32, 32))
        np.testing.assert_array_equal(np.asarray(image), expected)


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
    settings = SerializeSettings.from_env({"MAX_IMAGE_BYTES": "1000", "MAX_IMAGE_SIDE": "500"})
    assert (settings.limits.max_bytes, settings.limits.max_side) == (1000, 500)
    assert SerializeSettings.from_env({}).limits == DEFAULT_LIMITS
    for bad in (
        {"MAX_IMAGE_BYTES": "lots"},
        {"MAX_IMAGE_BYTES": "0"},
        {"MAX_ASPECT_RATIO": "0.5"},
        {"MIN_IMAGE_SIDE": "600", "MAX_IMAGE_SIDE": "500"},
    ):
        with pytest.raises(ConfigurationError):
            SerializeSettings.from_env(bad)


def test_hand_off_describes_the_upload_and_carries_the_prepared_image():
    data = images.solid((64, 48), "JPEG")
    stored = StoredObject(data=data, etag='"e"', version_id="v1")
    request = parse_event({"s3_bucket": "uploads", "s3_key": "k.jpg"})
    prepared = validate(stored, SerializeSettings.from_env({}))
    image = hand_off(request, stored, prepared)["image"]
    assert (image["format"], image["width"], image["height"]) == ("JPEG", 64, 48)
    assert image["sha256"] == hashlib.sha256(data).hexdigest()
    assert (image["version_id"], image["etag"]) == ("v1", '"e"')
    assert "inline_b64" not in image  # the upload itself is not carried: the model's input is
    png = base64.b64decode(image["prepared"]["inline_b64"])
    assert image["prepared"]["sha256"] == hashlib.sha256(png).hexdigest()
    assert image["prepared"]["content_type"] == "image/png"
    # exactly the pixels the endpoint prepares from the upload itself
    assert_same_pixels(png, np.asarray(prepare_image(data)))


@pytest.mark.integration
def test_handler_reads_and_checks_the_object(aws):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="uploads")
    data = images.solid((40, 30), "JPEG")
    s3.put_object(Bucket="uploads", Key="dir/ünï code.jpg", Body=data)
    result = serialize.handler({"s3_bucket": "uploads", "s3_key": "dir/ünï code.jpg"}, Context())
    image = result["image"]
    assert (image["format"], image["content_type"], image["width"], image["height"]) == (
        "JPEG",
        "image/jpeg",
        40,
        30,
    )
    png = base64.b64decode(image["prepared"]["inline_b64"])
    assert_same_pixels(png, np.asarray(prepare_image(data)))


@pytest.mark.integration
def test_handler_errors_are_typed(aws, monkeypatch):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="uploads")
    s3.put_object(Bucket="uploads", Key="text.png", Body=b"plain text")
    s3.put_object(Bucket="uploads", Key="big.png", Body=images.solid((64, 64)))
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


@pytest.mark.parametrize("side", [150, 400, 1500])
def test_hand_off_always_fits_the_state_limit(side):
    """Noise is the worst case for PNG size; the document stays a few KB whatever the upload."""
    data = images.seeded(side, (side, side), noise=True)
    stored = StoredObject(data=data, etag='"e"', version_id=None)
    request = parse_event({"s3_bucket": "uploads", "s3_key": "k" * 1024})
    image = hand_off(request, stored, validate(stored, SerializeSettings.from_env({})))["image"]
    assert len(json.dumps(image)) < 8 * 1024  # of Step Functions' 256 KiB

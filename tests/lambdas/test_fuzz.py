"""Property-based: every generated event or byte string ends in a typed error or a valid result.

Each handler gets >= 5,000 generated inputs: serialize_image 2,500 events + 2,500 image-like byte
strings (+ 400 events end to end against fixed S3 objects in the emulator), classify_image 2,500
events + 2,500 endpoint answers, filter_inferences 5,000 events through the whole handler. The
pure functions are fuzzed in-process to keep this fast.
"""

from __future__ import annotations

import json

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambdas.classify_image import core as classify_core
from lambdas.serialize_image import core as serialize_core
from lambdas.serialize_image import handler as serialize_handler
from lambdas.shared.images import ImageLimits, inspect_image
from tests import images
from tests.hostile import PROPERTY, json_values
from tests.lambdas.context import Context
from tests.lambdas.properties import accepted, check_endpoint_answer, check_filter_handler

HALF = settings(PROPERTY, max_examples=2500)
ALL = settings(HALF, max_examples=5000)
FEW = settings(HALF, max_examples=400)

SEEDS = [
    images.solid((32, 32)),
    images.solid((33, 20), "JPEG"),
    images.solid((16, 16), mode="L", colour=3),
]

texts = st.text(max_size=40) | st.sampled_from(
    ["uploads", "a.png", "", "../x", "ü/ñ.png", "\ud800"]
)


@st.composite
def image_like_bytes(draw) -> bytes:
    """Truncated, bit-flipped, re-headed and bomb-shaped images, and plain noise."""
    kind = draw(st.sampled_from(["truncate", "flip", "magic", "bomb", "noise", "splice"]))
    seed = draw(st.sampled_from(SEEDS))
    if kind == "truncate":
        return seed[: draw(st.integers(0, len(seed)))]
    if kind == "flip":
        data = bytearray(seed)
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    if kind == "magic":
        prefix = draw(st.sampled_from([b"GIF89a", b"BM", b"\x89PNX", b"\xff\xd8", b"RIFF", b""]))
        return prefix + seed[draw(st.integers(0, 12)) :]
    if kind == "bomb":
        return images.png_declaring(
            draw(st.integers(0, 2**31 - 1)), draw(st.integers(0, 2**31 - 1))
        )
    if kind == "splice":
        return seed[: draw(st.integers(8, 64))] + draw(st.binary(max_size=200))
    return draw(st.binary(max_size=400))


@st.composite
def serialize_events(draw) -> object:
    shape = draw(st.sampled_from(["any", "fields", "wrapped"]))
    if shape == "any":
        return draw(json_values)
    event = {
        "s3_bucket": draw(texts | json_values),
        "s3_key": draw(texts | json_values),
    }
    if draw(st.booleans()):
        event["image_data"] = draw(st.sampled_from(["", None, "abc", 0]))
    for key in draw(st.lists(st.sampled_from(["s3_bucket", "s3_key"]), max_size=2)):
        event.pop(key, None)
    return {"request": event, "execution_id": draw(json_values)} if shape == "wrapped" else event


@HALF
@given(image_like_bytes())
def test_inspect_image_never_crashes(data):
    info = accepted(inspect_image, data, ImageLimits())
    assert info is None or (info.format in {"PNG", "JPEG"} and info.width >= 8 and info.height >= 8)


@HALF
@given(serialize_events())
def test_serialize_event_parsing_never_crashes(event):
    request = accepted(serialize_core.parse_event, event)
    assert request is None or (request.s3_bucket and request.s3_key)


@st.composite
def classify_events(draw) -> object:
    if draw(st.booleans()):
        return draw(json_values)
    image = {
        "s3_bucket": draw(st.sampled_from(["uploads", "x", 5])),
        "s3_key": draw(texts),
        "content_type": draw(st.sampled_from(["image/png", "image/jpeg", "text/plain", None])),
        "inline_b64": draw(st.none() | st.text(max_size=40) | st.sampled_from(["iVBORw0KGgo="])),
        "sha256": draw(st.none() | st.text(max_size=64)),
        "etag": draw(st.none() | texts | json_values),
    }
    return {"image": image}


@HALF
@given(classify_events())
def test_classify_event_parsing_never_crashes(event):
    document = accepted(classify_core.parse_event, event)
    assert document is None or document.content_type in {"image/png", "image/jpeg"}


prediction_bodies = (
    st.binary(max_size=60)
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.lists(st.floats(allow_nan=True) | st.integers() | st.booleans(), max_size=3).map(
        lambda v: json.dumps(v).encode()
    )
)


@HALF
@given(prediction_bodies)
def test_prediction_parsing_never_crashes(body):
    check_endpoint_answer(body)


@st.composite
def filter_events(draw) -> object:
    if draw(st.integers(0, 3)) == 0:
        return draw(json_values)
    probabilities = {
        "bicycle": draw(st.floats(allow_nan=True) | json_values),
        "motorcycle": draw(st.floats(allow_nan=True) | json_values),
    }
    event = {
        "classification": {
            "label": draw(st.sampled_from(["bicycle", "motorcycle", "car", None])),
            "probabilities": probabilities,
        },
        "execution_id": draw(json_values),
    }
    if draw(st.booleans()):
        event["request"] = {"threshold": draw(json_values | st.floats(0, 1))}
    return event


@ALL
@given(filter_events())
def test_filter_handler_never_crashes(event):
    check_filter_handler(event)


FIXED_OBJECTS = {
    "ok.png": SEEDS[0],
    "ok.jpg": SEEDS[1],
    "cut.png": SEEDS[0][:50],
    "text.png": b"hello",
    "bomb.png": images.png_declaring(60_000, 60_000),
    "empty.png": b"",
}


@pytest.fixture(scope="module")
def fuzz_bucket(emulator):
    s3 = boto3.client("s3")
    bucket = "fuzz-objects"
    if bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=bucket)
    for key, body in FIXED_OBJECTS.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    return bucket


@pytest.mark.integration
def test_serialize_handler_end_to_end_never_crashes(fuzz_bucket):
    keys = st.sampled_from([*FIXED_OBJECTS, "missing.png"]) | texts
    events = (
        st.fixed_dictionaries(
            {"s3_bucket": st.sampled_from([fuzz_bucket, "fuzz-missing-bucket"]), "s3_key": keys}
        )
        | serialize_events()
    )

    @FEW
    @given(events)
    def run(event):
        result = accepted(serialize_handler.handler, event, Context())
        if result is None:
            return
        assert result["image"]["format"] in {"PNG", "JPEG"}
        assert len(json.dumps(result)) < 256 * 1024

    run()

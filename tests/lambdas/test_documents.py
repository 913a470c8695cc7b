"""The hand-off documents (lambdas/shared/documents.py): what the producer's to_dict gives, the
consumer's from_dict reads back unchanged; a malformed document is an InvalidEvent."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lambdas.classify_image.core import classification
from lambdas.shared.documents import ClassificationDocument, ImageDocument
from lambdas.shared.errors import InvalidEvent
from lambdas.shared.formats import CONTENT_TYPES
from tests.hostile import PROPERTY

_TEXT = st.one_of(st.none(), st.text(min_size=1, max_size=40))


@st.composite
def classification_documents(draw: st.DrawFn) -> ClassificationDocument:
    # Probabilities as the endpoint answers them: two finite shares summing to 1.
    first = draw(st.floats(min_value=0.0, max_value=1.0, allow_nan=False))
    return ClassificationDocument.of(
        (first, 1.0 - first),
        draw(st.text(min_size=1, max_size=40)),
        draw(_TEXT),
        inference_id=draw(_TEXT),
        model_version=draw(_TEXT),
    )


@PROPERTY
@given(classification_documents())
def test_classification_round_trips_through_json(document: ClassificationDocument) -> None:
    wire = json.loads(json.dumps(document.to_dict()))  # what the state machine passes on
    assert ClassificationDocument.from_dict(wire) == document
    assert ClassificationDocument.from_dict(wire).to_dict() == document.to_dict()


def test_classification_to_dict_is_the_documented_shape() -> None:
    found = classification((0.1, 0.9), "ep", "v1", inference_id="i-1", model_version="m3")
    assert found == {
        "classification": {
            "label": "motorcycle",
            "class_index": 1,
            "confidence": 0.9,
            "probabilities": {"bicycle": 0.1, "motorcycle": 0.9},
            "endpoint_name": "ep",
            "invoked_variant": "v1",
            "inference_id": "i-1",
            "model_version": "m3",
        }
    }


@pytest.mark.parametrize(
    "found",
    [
        None,
        {"label": "car", "probabilities": {"bicycle": 0.5, "motorcycle": 0.5}},
        {"label": "bicycle", "probabilities": {"bicycle": 0.2, "motorcycle": 0.8}},
        {"label": "bicycle", "probabilities": {"bicycle": 0.9}},
        {"label": "bicycle", "probabilities": {"bicycle": 0.9, "motorcycle": 0.9}},
    ],
)
def test_malformed_classification_is_invalid_event(found: object) -> None:
    with pytest.raises(InvalidEvent):
        ClassificationDocument.from_dict({"classification": found})


_KEY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=60)
_COUNT = st.one_of(st.none(), st.integers(min_value=0, max_value=2**40))


@st.composite
def image_documents(draw: st.DrawFn) -> ImageDocument:
    # Today's (prepared PNG inline) and the legacy shapes (upload inline, or a reference only).
    inline = draw(st.one_of(st.none(), st.binary(max_size=64)))
    sha256 = hashlib.sha256(inline).hexdigest() if inline is not None else draw(_TEXT)
    return ImageDocument(
        content_type=draw(st.sampled_from(sorted(CONTENT_TYPES.values()))),
        s3_bucket=draw(st.from_regex(r"[a-z0-9]{3,20}", fullmatch=True)),
        s3_key=draw(_KEY_TEXT),
        version_id=draw(_TEXT),
        etag=draw(_TEXT),
        inline=inline,
        sha256=sha256,
        prepared=draw(st.one_of(st.none(), st.binary(min_size=1, max_size=64))),
        format=draw(_TEXT),
        width=draw(_COUNT),
        height=draw(_COUNT),
        size_bytes=draw(_COUNT),
    )


@PROPERTY
@given(image_documents())
def test_image_round_trips_through_json(document: ImageDocument) -> None:
    wire = json.loads(json.dumps(document.to_dict()))
    assert ImageDocument.from_dict(wire) == document
    assert ImageDocument.from_dict(wire).to_dict() == document.to_dict()


@pytest.mark.parametrize(
    "change",
    [
        {"content_type": "text/plain"},
        {"s3_bucket": "Not_A_Bucket"},
        {"inline_b64": "not base64!"},
        {"prepared": {"content_type": "image/jpeg", "inline_b64": "AAAA"}},
        {"prepared": {"content_type": "image/png"}},
    ],
)
def test_malformed_image_is_invalid_event(change: dict[str, object]) -> None:
    image = {"content_type": "image/png", "s3_bucket": "uploads", "s3_key": "a.png", **change}
    with pytest.raises(InvalidEvent):
        ImageDocument.from_dict({"image": image})

"""The hand-off documents (lambdas/shared/documents.py) and the label record
(lambdas/shared/label_record.py): what the producer's to_dict gives, the consumer's from_dict
reads back unchanged; a malformed document is an InvalidEvent naming the field; both sides of
each hand-off use the one class."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lambdas.classify_image.core import classification
from lambdas.filter_inferences import handler as filter_handler
from lambdas.record_label.core import read_final, reviewed_outcome
from lambdas.shared.documents import (
    LABELS,
    REVIEW_LABELS,
    ClassificationDocument,
    DecisionDocument,
    ExecutionOptions,
    ImageDocument,
    ReviewAnswer,
)
from lambdas.shared.errors import InvalidEvent, InvalidLabelRecord, ThresholdBelowDeployed
from lambdas.shared.formats import CONTENT_TYPES
from lambdas.shared.label_record import LabelRecord
from lambdas.shared.routing import DEFAULT_ROUTING_RULES, parse_routes
from tests.hostile import PROPERTY, json_values
from tests.lambdas.context import Context

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


_SHARE = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
_NAME = st.text(min_size=1, max_size=40).map(str.strip).filter(bool)
_ROUTE = st.tuples(_NAME, st.floats(min_value=0.001, max_value=20_000.0, allow_nan=False))


@st.composite
def model_decisions(draw: st.DrawFn) -> DecisionDocument:
    """What filter_inferences decides: route at or above the threshold, else low_confidence;
    a confident image may be an audit sample."""
    confidence, threshold = draw(_SHARE), draw(_SHARE)
    asked = DecisionDocument("review", draw(st.sampled_from(LABELS)), confidence, threshold)
    if confidence < threshold:
        return replace(asked, reason="low_confidence")
    if draw(st.booleans()):
        return replace(asked, reason="audit")
    bay, radius = draw(_ROUTE)
    return replace(asked, action="route", loading_bay=bay, order_radius_km=radius)


@st.composite
def reviewed_decisions(draw: st.DrawFn) -> DecisionDocument:
    label, reviewer = draw(st.sampled_from(REVIEW_LABELS)), draw(_NAME)
    if label not in LABELS:
        return DecisionDocument("reject", label, reviewer=reviewer)
    bay, radius = draw(_ROUTE)
    return DecisionDocument(
        "route", label, loading_bay=bay, order_radius_km=radius, reviewer=reviewer
    )


@PROPERTY
@given(st.one_of(model_decisions(), reviewed_decisions()))
def test_decision_round_trips_through_json(document: DecisionDocument) -> None:
    wire = json.loads(json.dumps(document.to_dict()))
    assert DecisionDocument.from_dict(wire) == document
    assert DecisionDocument.from_dict(wire).to_dict() == document.to_dict()


def test_decision_to_dict_is_the_documented_shape() -> None:
    """The keys the machines read (`action`, `reason`) and nothing a decision does not have."""
    asked = DecisionDocument("review", "bicycle", 0.61, 0.93, reason="low_confidence")
    assert asked.to_dict() == {
        "decision": {
            "label": "bicycle",
            "confidence": 0.61,
            "threshold": 0.93,
            "action": "review",
            "reason": "low_confidence",
        }
    }
    rejected = DecisionDocument("reject", "not_a_vehicle", reviewer="rev-1")
    assert rejected.to_dict() == {
        "decision": {"label": "not_a_vehicle", "reviewer": "rev-1", "action": "reject"}
    }


_LOW = {"label": "bicycle", "confidence": 0.6, "threshold": 0.9, "action": "review"}
_ROUTED = {
    "label": "bicycle",
    "confidence": 0.95,
    "threshold": 0.9,
    "action": "route",
    "loading_bay": "bay-bicycle",
    "order_radius_km": 3.0,
}


@pytest.mark.parametrize(
    ("decision", "field"),
    [
        (None, "decision"),
        (_LOW, "decision.reason"),
        (_LOW | {"reason": "hunch"}, "decision.reason"),
        (_LOW | {"reason": "audit"}, "decision.reason"),  # an audit sample is confident
        (_LOW | {"reason": "low_confidence", "confidence": 0.95}, "decision.reason"),
        (_LOW | {"reason": "low_confidence", "label": "car"}, "decision.label"),
        (_LOW | {"reason": "low_confidence", "threshold": "high"}, "decision.threshold"),
        (_LOW | {"reason": "low_confidence", "confidence": 1.5}, "decision.confidence"),
        (_LOW | {"reason": "low_confidence", "loading_bay": "b"}, "decision.loading_bay"),
        (_LOW | {"action": "reject"}, "decision.action"),
        (_ROUTED | {"confidence": 0.5}, "decision"),  # routes below the threshold
        (_ROUTED | {"loading_bay": ""}, "decision.loading_bay"),
        (_ROUTED | {"order_radius_km": 0}, "decision.order_radius_km"),
        (_ROUTED | {"reason": "audit"}, "decision.reason"),
        ({"label": "bicycle", "reviewer": "r", "action": "reject"}, "decision.action"),
        ({"label": "not_a_vehicle", "reviewer": "r", "action": "route"}, "decision.action"),
        ({"label": "bicycle", "reviewer": " ", "action": "route"}, "decision.reviewer"),
        ({"label": "bicycle", "reviewer": "r", "action": "review"}, "decision.action"),
        (_ROUTED | {"reviewer": "r"}, "decision.confidence"),
    ],
)
def test_malformed_decision_is_invalid_event_naming_the_field(decision: object, field: str) -> None:
    with pytest.raises(InvalidEvent, match=rf"^{re.escape(field)}\b"):
        DecisionDocument.from_dict({"decision": decision})


@PROPERTY
@given(st.sampled_from(REVIEW_LABELS), _NAME)
def test_review_answer_round_trips(label: str, reviewer: str) -> None:
    answer = ReviewAnswer(label, reviewer)
    assert ReviewAnswer.from_dict(json.loads(json.dumps(answer.to_dict()))) == answer
    assert ReviewAnswer.in_event({"review": answer.to_dict()}) == answer
    assert ReviewAnswer.in_event({"review": None}) is None


@pytest.mark.parametrize(
    ("answer", "field"),
    [
        ({"label": "cat", "reviewer": "r"}, "review.label"),
        ({"label": "bicycle"}, "review.reviewer"),
        ({"label": "bicycle", "reviewer": "r" * 257}, "review.reviewer"),
        ("bicycle", "review"),
    ],
)
def test_malformed_review_answer_names_the_field(answer: object, field: str) -> None:
    with pytest.raises(InvalidEvent, match=rf"^{re.escape(field)}\b"):
        ReviewAnswer.in_event({"review": answer})


@PROPERTY
@given(
    st.one_of(
        st.none(), st.floats(min_value=0.0, max_value=1.0, exclude_min=True, exclude_max=True)
    )
)
def test_execution_options_round_trip_in_every_request_shape(threshold: float | None) -> None:
    """The three places a request may carry the override read the same (one reader)."""
    options = ExecutionOptions(threshold)
    for event in (
        options.to_dict(),
        {"request": options.to_dict()},
        {"request": {"options": options.to_dict()}},  # the batch's item shape
    ):
        assert ExecutionOptions.from_dict(json.loads(json.dumps(event))) == options


def test_an_override_may_only_raise_the_deployed_threshold() -> None:
    assert ExecutionOptions().threshold_over(0.9) == 0.9
    assert ExecutionOptions(0.95).threshold_over(0.9) == 0.95
    assert ExecutionOptions(0.9).threshold_over(0.9) == 0.9
    with pytest.raises(ThresholdBelowDeployed, match="may only raise it"):
        ExecutionOptions(0.5).threshold_over(0.9)
    for bad in (0, 1, 1.5, "0.95", True):
        with pytest.raises(InvalidEvent, match="threshold"):
            ExecutionOptions.from_dict({"request": {"threshold": bad}})


INFERENCE_ID = "0b9e4c8a-2f7d-4a55-9d1e-3f0c2b7a9e11"


@st.composite
def label_records(draw: st.DrawFn) -> LabelRecord:
    reviewed = draw(st.booleans())
    moment = draw(
        st.datetimes(
            min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
        )
    )
    return LabelRecord(
        image=draw(st.text(min_size=1, max_size=60)),
        inference_id=draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", fullmatch=True)),
        model_version=draw(st.text(min_size=1, max_size=20)),
        predicted=draw(st.sampled_from(LABELS)),
        confidence=draw(_SHARE),
        threshold=draw(_SHARE),
        decision="reviewed" if reviewed else "routed",
        reason=draw(st.sampled_from(("low_confidence", "audit"))) if reviewed else None,
        label=draw(st.sampled_from(REVIEW_LABELS)) if reviewed else None,
        reviewer=draw(_NAME) if reviewed else None,
        decided_at=moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        execution_id=draw(st.one_of(st.none(), st.text(min_size=1, max_size=60))),
    )


@PROPERTY
@given(label_records())
def test_label_record_round_trips_through_its_json_line(record: LabelRecord) -> None:
    assert LabelRecord.from_line(record.json_line()) == record
    assert LabelRecord.from_dict(record.to_dict()).json_line() == record.json_line()


_RECORD = LabelRecord(
    "s3://uploads/day/bike.png",
    INFERENCE_ID,
    "v7",
    "bicycle",
    0.61,
    0.93,
    "reviewed",
    "low_confidence",
    "motorcycle",
    "rev-1",
    "2026-12-06T20:30:10.123Z",
    "arn:aws:states:us-east-1:123456789012:execution:review:x",
).to_dict()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"schema_version": 2}, "schema_version"),
        ({"schema_version": True}, "schema_version"),
        ({"inference_id": "../../x"}, "inference_id"),
        ({"predicted": "not_a_vehicle"}, "predicted"),
        ({"confidence": "0.6"}, "confidence"),
        ({"threshold": 1.2}, "threshold"),
        ({"decision": "guessed"}, "decision"),
        ({"reason": None}, "reason"),
        ({"label": "cat"}, "label"),
        ({"reviewer": ""}, "reviewer"),
        ({"decision": "routed"}, "reason"),  # routed, yet a human's fields are set
        ({"decided_at": "2026-12-06T20:30:10"}, "decided_at"),
        ({"decided_at": "2026-12-06T21:30:10.123+01:00"}, "decided_at"),  # not as written
        ({"execution_id": 7}, "execution_id"),
        ({"colour": "red"}, "label record has unknown fields"),
    ],
)
def test_malformed_label_record_is_a_typed_error_naming_the_field(
    changes: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidLabelRecord, match=re.escape(field)):
        LabelRecord.from_dict(_RECORD | changes)


def test_a_label_record_line_that_is_not_json_is_a_typed_error() -> None:
    with pytest.raises(InvalidLabelRecord, match="not JSON"):
        LabelRecord.from_line(b'{"schema_version": 1')
    assert LabelRecord.from_dict(_RECORD).to_dict() == _RECORD


@PROPERTY
@given(json_values)
def test_any_json_is_read_or_refused_typed(value: object) -> None:
    """Whatever a state machine or a bucket hands over, the readers raise only InvalidEvent."""
    readers = (
        lambda: DecisionDocument.from_dict({"decision": value}),
        lambda: ReviewAnswer.in_event({"review": value}),
        lambda: ExecutionOptions.from_dict({"request": {"threshold": value}}),
        lambda: LabelRecord.from_dict(value),
        lambda: LabelRecord.from_dict(_RECORD | {"reviewer": value}),
    )
    for read in readers:
        with contextlib.suppress(InvalidEvent):
            read()


def test_both_sides_of_the_decision_use_the_one_class(monkeypatch: pytest.MonkeyPatch) -> None:
    """filter_inferences' output, as the machines pass it on, is what record_label reads, and
    the reviewer's answer document is what record_label routes and records."""
    monkeypatch.setenv("CONFIDENCE_THRESHOLD", "0.9")
    monkeypatch.setenv("AUDIT_SAMPLE_RATE", "0")
    filter_handler.settings.cache_clear()
    found = classification((0.3, 0.7), "ep", "v1", inference_id=INFERENCE_ID, model_version="m3")
    decided = json.loads(json.dumps(filter_handler.handler(found, Context())))
    decision = DecisionDocument.from_dict(decided)
    assert (decision.action, decision.reason, decision.label) == (
        "review",
        "low_confidence",
        "motorcycle",
    )
    answer = ReviewAnswer("bicycle", "rev-1")
    final = read_final(
        {
            "image": {"s3_bucket": "uploads", "s3_key": "a.png"},
            **found,
            **decided,
            "review": answer.to_dict(),
            "decided_at": "2026-12-06T20:30:10Z",
        },
        datetime.now(UTC),
    )
    record = final.record
    assert (record.predicted, record.confidence, record.threshold) == ("motorcycle", 0.7, 0.9)
    assert (record.label, record.reviewer, record.reason) == ("bicycle", "rev-1", "low_confidence")
    assert LabelRecord.from_line(record.json_line()) == record
    # record_label routes the answer (the review machine's one step); its decision reads back.
    routes = parse_routes(DEFAULT_ROUTING_RULES)
    outcome = json.loads(json.dumps(reviewed_outcome(final, routes, {"status": "written"})))
    reviewed = DecisionDocument.from_dict(outcome)
    assert (reviewed.reviewer, reviewed.loading_bay) == (answer.reviewer, "bay-bicycle")
    assert DecisionDocument.from_dict({"decision": outcome["review"]["model_decision"]}) == decision
    filter_handler.settings.cache_clear()

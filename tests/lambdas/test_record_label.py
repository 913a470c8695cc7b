"""record_label: the label record (schema version 1), its key, settings, and the S3 write."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest

from lambdas.record_label import handler as record
from lambdas.record_label.core import RecordSettings, build_record
from lambdas.shared.errors import ConfigurationError, InvalidEvent, StorageUnavailable
from tests.lambdas.context import Context

NOW = datetime(2026, 12, 6, 20, 30, 10, 123456, tzinfo=UTC)
INFERENCE_ID = "0b9e4c8a-2f7d-4a55-9d1e-3f0c2b7a9e11"


def classified(label: str = "bicycle", confidence: float = 0.61, **changes) -> dict:
    """classify_image's document, as the state machines pass it on."""
    other = "motorcycle" if label == "bicycle" else "bicycle"
    return {
        "label": label,
        "class_index": 0 if label == "bicycle" else 1,
        "confidence": confidence,
        "probabilities": {label: confidence, other: 1.0 - confidence},
        "endpoint_name": "ep",
        "invoked_variant": "AllTraffic",
        "inference_id": INFERENCE_ID,
        "model_version": "v7",
        **changes,
    }


LOW = {
    "label": "bicycle",
    "confidence": 0.61,
    "threshold": 0.93,
    "action": "review",
    "reason": "low_confidence",
}
# A confident image and filter_inferences' decision to route it, without review.
ROUTED = {
    "classification": classified(confidence=0.97),
    "decision": {
        "label": "bicycle",
        "confidence": 0.97,
        "threshold": 0.9,
        "action": "route",
        "loading_bay": "bay-bicycle",
        "order_radius_km": 3.0,
    },
    "review": None,
}


def event(**changes) -> dict:
    base = {
        "image": {"s3_bucket": "uploads", "s3_key": "day/bike.png"},
        "classification": classified(),
        "decision": LOW,
        "review": {"label": "motorcycle", "reviewer": "rev-1"},
        "decided_at": "2026-12-06T20:30:10.123456+00:00",
        "execution_id": "arn:aws:states:us-east-1:123456789012:execution:review:x",
    }
    return base | changes


def test_a_reviewed_decision_becomes_one_record():
    assert build_record(event(), NOW).to_dict() == {
        "schema_version": 1,
        "image": "s3://uploads/day/bike.png",
        "inference_id": INFERENCE_ID,
        "model_version": "v7",
        "predicted": "bicycle",
        "confidence": 0.61,
        "threshold": 0.93,
        "decision": "reviewed",
        "reason": "low_confidence",
        "label": "motorcycle",
        "reviewer": "rev-1",
        "decided_at": "2026-12-06T20:30:10.123Z",
        "execution_id": "arn:aws:states:us-east-1:123456789012:execution:review:x",
    }


def test_a_routed_decision_has_no_human_label():
    routed = build_record(event(**ROUTED, decided_at=None), NOW)
    assert (routed.decision, routed.label, routed.reviewer) == ("routed", None, None)
    assert (routed.reason, routed.confidence, routed.threshold) == (None, 0.97, 0.9)
    assert routed.decided_at == "2026-12-06T20:30:10.123Z"  # now, when the state gave none


def test_key_and_line_are_the_same_on_a_retry():
    first, again = build_record(event(), NOW), build_record(event(), datetime.now(UTC))
    assert first.key("labels/") == f"labels/{INFERENCE_ID}.jsonl"
    assert first.json_line() == again.json_line()
    assert first.json_line().endswith(b"\n") and first.json_line().count(b"\n") == 1


@pytest.mark.parametrize(
    "changes",
    [
        {"image": {"s3_bucket": "uploads"}},
        {"classification": classified(inference_id=None)},
        {"classification": classified(inference_id="../../x")},
        {"classification": classified(label="car")},
        {"classification": {"label": "bicycle", "confidence": 0.61, "inference_id": "a"}},
        {"review": {"label": "cat", "reviewer": "r"}},
        {"review": {"label": "bicycle"}},
        {"review": None},  # a decision to review, recorded without the reviewer's answer
        {"decision": LOW | {"threshold": "high"}},
        {"decision": LOW | {"reason": "hunch"}},
        {"decision": LOW | {"label": "motorcycle"}},  # not the classification's label
        {"decision": ROUTED["decision"]},  # routed, yet a reviewer answered
        {"decision": {"label": "bicycle", "reviewer": "r", "action": "reject"}},
        {"decided_at": "yesterday"},
        {"decided_at": "2026-12-06T20:30:10"},
    ],
)
def test_malformed_events_are_refused(changes):
    with pytest.raises(InvalidEvent):
        build_record(event(**changes), NOW)


def test_settings_from_env():
    settings = RecordSettings.from_env({"LABELS_BUCKET": "b", "LABELS_KMS_KEY_ID": "alias/k"})
    assert (settings.bucket, settings.prefix, settings.kms_key_id) == ("b", "labels/", "alias/k")
    for bad in (
        {},
        {"LABELS_BUCKET": "b", "LABELS_PREFIX": "labels"},
        {"LABELS_BUCKET": "b", "LABELS_PREFIX": "../x/"},
    ):
        with pytest.raises(ConfigurationError):
            RecordSettings.from_env(bad)


@pytest.mark.integration
def test_handler_writes_the_record_encrypted_and_idempotently(aws, monkeypatch):
    s3, kms = boto3.client("s3"), boto3.client("kms")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    s3.create_bucket(Bucket="labels-bucket")
    monkeypatch.setenv("LABELS_BUCKET", "labels-bucket")
    monkeypatch.setenv("LABELS_KMS_KEY_ID", key_id)
    first = record.handler(event(), Context())
    second = record.handler(event(), Context())  # a retry
    key = f"labels/{INFERENCE_ID}.jsonl"
    assert first["uri"] == second["uri"] == f"s3://labels-bucket/{key}"
    [stored] = s3.list_objects_v2(Bucket="labels-bucket", Prefix="labels/")["Contents"]
    assert stored["Key"] == key
    got = s3.get_object(Bucket="labels-bucket", Key=key)
    assert got["ServerSideEncryption"] == "aws:kms"
    assert got["SSEKMSKeyId"].endswith(key_id)
    assert json.loads(got["Body"].read()) == first["record"]


@pytest.mark.integration
def test_handler_reports_a_failed_write_as_retryable(aws, monkeypatch):
    monkeypatch.setenv("LABELS_BUCKET", "no-such-bucket")
    with pytest.raises(StorageUnavailable, match="NoSuchBucket"):
        record.handler(event(), Context())


@pytest.mark.integration
def test_a_repeated_routed_decision_leaves_the_first_record_and_a_review_supersedes_it(
    aws, monkeypatch
):
    """Express runs at least once: the model's decision for an inference id is written once
    (S3 conditional write; the second is a no-op), a reviewer's label replaces it."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="labels-bucket")
    monkeypatch.setenv("LABELS_BUCKET", "labels-bucket")
    key = f"labels/{INFERENCE_ID}.jsonl"
    routed = ROUTED
    first = record.handler(event(**routed, decided_at="2026-12-06T20:30:10.000Z"), Context())
    again = record.handler(event(**routed, decided_at="2026-12-06T20:31:00.000Z"), Context())
    assert (first["written"], again["written"]) == (True, False)
    assert first["uri"] == again["uri"] == f"s3://labels-bucket/{key}"

    def stored() -> dict:
        return json.loads(s3.get_object(Bucket="labels-bucket", Key=key)["Body"].read())

    assert stored()["decided_at"] == "2026-12-06T20:30:10.000Z"  # the first stands
    reviewed = record.handler(event(), Context())
    assert reviewed["written"] is True
    assert (stored()["decision"], stored()["label"]) == ("reviewed", "motorcycle")
    assert record.handler(event(**routed), Context())["written"] is False
    assert stored()["decision"] == "reviewed"  # the model's decision never replaces a human's

"""record_label: the label record (schema version 1), its key, settings, and the S3 write."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest

from lambdas.record_label import handler as record
from lambdas.record_label.core import RecordSettings, build_record, json_line, record_key
from lambdas.shared.errors import ConfigurationError, InvalidEvent, StorageUnavailable
from tests.lambdas.context import Context

NOW = datetime(2026, 12, 6, 20, 30, 10, 123456, tzinfo=UTC)
INFERENCE_ID = "0b9e4c8a-2f7d-4a55-9d1e-3f0c2b7a9e11"


def event(**changes) -> dict:
    base = {
        "image": {"s3_bucket": "uploads", "s3_key": "day/bike.png"},
        "classification": {
            "label": "bicycle",
            "confidence": 0.61,
            "inference_id": INFERENCE_ID,
            "model_version": "v7",
        },
        "decision": {"action": "review", "threshold": 0.93, "reason": "low_confidence"},
        "review": {"label": "motorcycle", "reviewer": "rev-1"},
        "decided_at": "2026-12-06T20:30:10.123456+00:00",
        "execution_id": "arn:aws:states:us-east-1:123456789012:execution:review:x",
    }
    return base | changes


def test_a_reviewed_decision_becomes_one_record():
    assert build_record(event(), NOW) == {
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
    routed = build_record(
        event(review=None, decision={"action": "route", "threshold": 0.9}, decided_at=None), NOW
    )
    assert (routed["decision"], routed["label"], routed["reviewer"]) == ("routed", None, None)
    assert routed["reason"] is None
    assert routed["decided_at"] == "2026-12-06T20:30:10.123Z"  # now, when the state gave none


def test_key_and_line_are_the_same_on_a_retry():
    first, again = build_record(event(), NOW), build_record(event(), datetime.now(UTC))
    assert record_key("labels/", first) == f"labels/{INFERENCE_ID}.jsonl"
    assert json_line(first) == json_line(again)
    assert json_line(first).endswith(b"\n") and json_line(first).count(b"\n") == 1


@pytest.mark.parametrize(
    "changes",
    [
        {"image": {"s3_bucket": "uploads"}},
        {"classification": {"label": "bicycle", "confidence": 0.6}},
        {"classification": {"label": "bicycle", "confidence": 0.6, "inference_id": "../../x"}},
        {"classification": {"label": "car", "confidence": 0.6, "inference_id": "a"}},
        {"review": {"label": "cat", "reviewer": "r"}},
        {"review": {"label": "bicycle"}},
        {"decision": {"threshold": "high"}},
        {"decision": {"threshold": 0.9, "reason": "hunch"}},
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
    routed = {"review": None, "decision": {"action": "route", "threshold": 0.9}}
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

"""record_label: the label record (schema version 1), its key, settings, the S3 write, and the
review machine's one step after the answer (route, record, outcome)."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest

from lambdas.record_label import handler as record
from lambdas.record_label.core import RecordSettings, build_record
from lambdas.shared.errors import ConfigurationError, InvalidEvent, StorageUnavailable
from lambdas.shared.routing import Route
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
        "execution_id": REVIEW_EXECUTION,
        # From the review machine: what its outcome carries on.
        "request": {"s3_bucket": "uploads", "s3_key": "day/bike.png"},
        "workflow_execution_id": WORKFLOW_EXECUTION,
    }
    return base | changes


REVIEW_EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:review:x"
WORKFLOW_EXECUTION = "arn:aws:states:us-east-1:123456789012:express:classify:y:z"


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
        "execution_id": REVIEW_EXECUTION,
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
    assert settings.routes["motorcycle"] == Route("bay-motorcycle", 15.0)  # the default rules
    for bad in (
        {},
        {"LABELS_BUCKET": "b", "LABELS_PREFIX": "labels"},
        {"LABELS_BUCKET": "b", "LABELS_PREFIX": "../x/"},
        {"LABELS_BUCKET": "b", "ROUTING_RULES": '{"bicycle": {}}'},
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
    assert first == second
    assert first["label_record"] == {"status": "written", "uri": f"s3://labels-bucket/{key}"}
    [stored] = s3.list_objects_v2(Bucket="labels-bucket", Prefix="labels/")["Contents"]
    assert stored["Key"] == key
    got = s3.get_object(Bucket="labels-bucket", Key=key)
    assert got["ServerSideEncryption"] == "aws:kms"
    assert got["SSEKMSKeyId"].endswith(key_id)
    assert json.loads(got["Body"].read()) == build_record(event(), NOW).to_dict()


@pytest.mark.integration
def test_handler_reports_a_failed_write_of_the_models_decision_as_retryable(aws, monkeypatch):
    """The classify machines' RecordRouted retries it and then goes on without the record."""
    monkeypatch.setenv("LABELS_BUCKET", "no-such-bucket")
    with pytest.raises(StorageUnavailable, match="NoSuchBucket"):
        record.handler(event(**ROUTED), Context())


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
    assert reviewed["label_record"]["status"] == "written"
    assert (stored()["decision"], stored()["label"]) == ("reviewed", "motorcycle")
    assert record.handler(event(**routed), Context())["written"] is False
    assert stored()["decision"] == "reviewed"  # the model's decision never replaces a human's


def metric_names(out: str) -> set[str]:
    """The EMF metric names the handler printed."""
    blobs = [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]
    return {m["Name"] for blob in blobs for m in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]}


@pytest.mark.integration
def test_a_reviewers_answer_is_routed_recorded_and_returned_as_the_outcome(
    aws, monkeypatch, capsys
):
    """The review machine's one step after the answer: its output is the execution's."""
    boto3.client("s3").create_bucket(Bucket="labels-bucket")
    monkeypatch.setenv("LABELS_BUCKET", "labels-bucket")
    monkeypatch.setenv(
        "ROUTING_RULES",
        json.dumps(
            {
                "bicycle": {"loading_bay": "bay-7", "order_radius_km": 2.5},
                "motorcycle": {"loading_bay": "bay-12", "order_radius_km": 20},
            }
        ),
    )
    capsys.readouterr()
    outcome = record.handler(event(), Context())
    assert outcome == {
        "outcome": "RoutedByReviewer",
        "execution_id": WORKFLOW_EXECUTION,
        "request": {"s3_bucket": "uploads", "s3_key": "day/bike.png"},
        "classification": classified(),
        "decision": {
            "label": "motorcycle",
            "reviewer": "rev-1",
            "action": "route",
            "loading_bay": "bay-12",
            "order_radius_km": 20.0,
        },
        "review": {
            "reason": "low_confidence",
            "model_decision": LOW,
            "review_execution_id": REVIEW_EXECUTION,
        },
        "label_record": {
            "status": "written",
            "uri": f"s3://labels-bucket/labels/{INFERENCE_ID}.jsonl",
        },
    }
    assert metric_names(capsys.readouterr().out) == {"RoutedByReviewer", "Succeeded"}
    rejected = record.handler(
        event(review={"label": "not_a_vehicle", "reviewer": "rev-2"}), Context()
    )
    assert rejected["outcome"] == "Rejected"
    assert rejected["decision"] == {
        "label": "not_a_vehicle",
        "reviewer": "rev-2",
        "action": "reject",
    }
    assert rejected["label_record"]["status"] == "written"


@pytest.mark.integration
def test_an_answer_whose_record_cannot_be_written_still_returns_its_route(aws, monkeypatch, capsys):
    """The decision is never lost: the outcome says the record failed, and why."""
    monkeypatch.setenv("LABELS_BUCKET", "no-such-bucket")
    capsys.readouterr()
    outcome = record.handler(event(), Context())
    assert outcome["outcome"] == "RoutedByReviewer"
    assert outcome["decision"]["loading_bay"] == "bay-motorcycle"  # the default rules
    failed = outcome["label_record"]
    assert (failed["status"], failed["error"]) == ("failed", "StorageUnavailable")
    cause = json.loads(failed["cause"])
    assert cause["errorType"] == "StorageUnavailable"
    assert "NoSuchBucket" in cause["errorMessage"]
    assert metric_names(capsys.readouterr().out) == {
        "LabelNotRecorded",
        "RoutedByReviewer",
        "Succeeded",
    }


def metric_values(out: str) -> dict[str, float]:
    """The EMF metrics the handler printed, by name."""
    blobs = [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]
    names = metric_names(out)
    found = {name: blob[name] for blob in blobs for name in names if name in blob}
    return {name: sum(v) if isinstance(v, list) else v for name, v in found.items()}


@pytest.mark.integration
@pytest.mark.parametrize(
    ("label", "misrouted"), [("bicycle", 0), ("motorcycle", 1), ("not_a_vehicle", 1)]
)
def test_an_audit_answer_counts_toward_the_live_misroute_rate(
    aws, monkeypatch, capsys, label, misrouted
):
    """The model said bicycle with confidence and a person audited it: a different answer (a
    non-vehicle included) is a misroute the model made on its own."""
    boto3.client("s3").create_bucket(Bucket="labels-bucket")
    monkeypatch.setenv("LABELS_BUCKET", "labels-bucket")
    audit = LOW | {"reason": "audit", "confidence": 0.97}
    answered = event(
        classification=classified(confidence=0.97),
        decision=audit,
        review={"label": label, "reviewer": "r"},
    )
    capsys.readouterr()
    record.handler(answered, Context())
    values = metric_values(capsys.readouterr().out)
    assert values["AuditReviewed"] == 1 and values["AuditMisrouted"] == misrouted


@pytest.mark.integration
def test_a_low_confidence_answer_is_not_an_audit(aws, monkeypatch, capsys):
    boto3.client("s3").create_bucket(Bucket="labels-bucket")
    monkeypatch.setenv("LABELS_BUCKET", "labels-bucket")
    capsys.readouterr()
    record.handler(event(), Context())
    assert not {"AuditReviewed", "AuditMisrouted"} & metric_names(capsys.readouterr().out)


@pytest.mark.integration
def test_a_malformed_answer_is_refused_before_anything_is_written(aws, monkeypatch):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="labels-bucket")
    monkeypatch.setenv("LABELS_BUCKET", "labels-bucket")
    with pytest.raises(InvalidEvent, match=r"review\.label"):
        record.handler(event(review={"label": "cat", "reviewer": "r"}), Context())
    assert "Contents" not in s3.list_objects_v2(Bucket="labels-bucket")


class FlakyS3(http.server.BaseHTTPRequestHandler):
    """An S3 endpoint on 127.0.0.1 that answers the first `failures` PUTs 503 SlowDown (what S3
    answers when it sheds load), the rest 200."""

    failures = 0
    puts = 0

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).puts += 1
        if type(self).puts <= type(self).failures:
            body = b"<Error><Code>SlowDown</Code><Message>Slow down.</Message></Error>"
            self.send_response(503)
        else:
            body = b""
            self.send_response(200)
            self.send_header("ETag", '"0"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def flaky_s3(monkeypatch) -> Iterator[type[FlakyS3]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FlakyS3)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("LABELS_BUCKET", "labels-bucket")
    FlakyS3.failures, FlakyS3.puts = 0, 0
    yield FlakyS3
    server.shutdown()
    server.server_close()
    thread.join()


def test_a_shed_write_is_retried_inside_the_function_and_then_written(flaky_s3):
    flaky_s3.failures = record.WRITE_ATTEMPTS - 1
    outcome = record.handler(event(), Context())
    assert outcome["label_record"]["status"] == "written"
    assert flaky_s3.puts == record.WRITE_ATTEMPTS


def test_a_write_shed_on_every_attempt_stops_after_the_bound(flaky_s3):
    flaky_s3.failures = 100
    outcome = record.handler(event(), Context())
    assert outcome["outcome"] == "RoutedByReviewer"
    assert outcome["label_record"]["status"] == "failed"
    assert "SlowDown" in json.loads(outcome["label_record"]["cause"])["errorMessage"]
    assert flaky_s3.puts == record.WRITE_ATTEMPTS

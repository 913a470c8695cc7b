"""start_workflow: the upload an SQS message names, its execution name, the rate window, and the
handler against the emulator (DynamoDB ledger, Step Functions, SQS)."""

from __future__ import annotations

import json
import re
import time

import boto3
import pytest

from lambdas.shared.errors import ConfigurationError, InvalidEvent
from lambdas.start_workflow import handler as starter
from lambdas.start_workflow import ledger
from lambdas.start_workflow.core import StarterSettings, parse_message, window_at
from tests.lambdas.context import Context

BUCKET = "uploads-bucket"


def s3_event(key: str, version_id: str | None = None, etag: str = "abc") -> str:
    """An EventBridge 'Object Created' event as S3 sends it (and the rule forwards it)."""
    obj: dict[str, object] = {
        "key": key,
        "size": 100,
        "etag": etag,
        "sequencer": "0062E99A88DC407460",
    }
    if version_id:
        obj["version-id"] = version_id
    return json.dumps(
        {
            "version": "0",
            "detail-type": "Object Created",
            "source": "aws.s3",
            "account": "123456789012",
            "region": "us-east-1",
            "resources": [f"arn:aws:s3:::{BUCKET}"],
            "detail": {
                "version": "0",
                "bucket": {"name": BUCKET},
                "object": obj,
                "reason": "PutObject",
            },
        }
    )


def test_a_message_names_its_upload_and_only_the_object_reaches_the_workflow():
    upload = parse_message(s3_event("incoming/a b.png", version_id="v1"))
    assert (upload.bucket, upload.key, upload.version_id, upload.etag) == (
        BUCKET,
        "incoming/a b.png",
        "v1",
        "abc",
    )
    assert json.loads(upload.execution_input()) == {
        "s3_bucket": BUCKET,
        "s3_key": "incoming/a b.png",
    }


def test_the_execution_name_is_stable_per_object_version_and_valid():
    name = parse_message(s3_event("incoming/x.png", "v1")).execution_name()
    assert name == parse_message(s3_event("incoming/x.png", "v1")).execution_name()
    others = {
        parse_message(s3_event("incoming/x.png", "v2")).execution_name(),
        parse_message(s3_event("incoming/y.png", "v1")).execution_name(),
        parse_message(s3_event("incoming/x.png", "v1", etag="def")).execution_name(),
    }
    assert name not in others and len(others) == 3
    # Step Functions: at most 80 characters, none of whitespace, brackets, wildcards, specials.
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", name)


@pytest.mark.parametrize(
    "body",
    [
        None,
        "not json",
        "[" * 100 + "]" * 100,
        json.dumps({"source": "aws.s3", "detail-type": "Object Deleted", "detail": {}}),
        json.dumps({"source": "evil", "detail-type": "Object Created", "detail": {}}),
        s3_event("").replace('"key": ""', '"key": 5'),
        s3_event("k").replace(BUCKET, "Not_A_Bucket"),
        s3_event("k" * 2000),
    ],
)
def test_a_message_that_is_no_upload_is_a_typed_error(body):
    with pytest.raises(InvalidEvent):
        parse_message(body)


def test_window_and_seconds_until_the_next():
    assert window_at(120.0, 60) == (2, 60)
    assert window_at(179.2, 60) == (2, 1)
    assert window_at(179.99, 60) == (2, 1)


ENV = {
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:classify",
    "UPLOAD_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/uploads",
    "START_LEDGER_TABLE": "starts",
    "STARTS_PER_WINDOW": "5",
}


@pytest.mark.parametrize(
    "change",
    [
        {"STARTS_PER_WINDOW": ""},
        {"STARTS_PER_WINDOW": "0"},
        {"WINDOW_SECONDS": "0"},
        {"WINDOW_SECONDS": "86400"},
        {"STATE_MACHINE_ARN": "arn:aws:lambda:us-east-1:123456789012:function:x"},
        {"UPLOAD_QUEUE_URL": "uploads"},
        {"START_LEDGER_TABLE": "a b"},
    ],
)
def test_bad_settings_name_the_variable(change):
    with pytest.raises(ConfigurationError, match=next(iter(change))):
        StarterSettings.from_env({**ENV, **change})


def test_settings_default_to_a_minute():
    assert StarterSettings.from_env(ENV).window_seconds == 60


PASS_MACHINE = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})


@pytest.fixture
def stage(aws, monkeypatch):
    """A ledger table, the buffer queue, a state machine, and the starter's environment."""
    dynamodb, sqs, sfn = (boto3.client(n) for n in ("dynamodb", "sqs", "stepfunctions"))
    dynamodb.create_table(
        TableName="starts",
        **ledger.TABLE_ARGUMENTS,
    )
    queue_url = sqs.create_queue(QueueName="uploads")["QueueUrl"]
    machine = sfn.create_state_machine(
        name="classify", definition=PASS_MACHINE, roleArn="arn:aws:iam::123456789012:role/sfn"
    )["stateMachineArn"]
    env = {
        **ENV,
        "STATE_MACHINE_ARN": machine,
        "UPLOAD_QUEUE_URL": queue_url,
        "STARTS_PER_WINDOW": "2",
    }
    env["WINDOW_SECONDS"] = "3600"  # one window for the whole test
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return sqs, sfn, dynamodb, queue_url, machine


def received_batch(sqs, queue_url, bodies):
    for body in bodies:
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == len(bodies)
    return {
        "Records": [
            {"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"]}
            for m in messages
        ]
    }


@pytest.mark.integration
def test_over_the_cap_waits_in_the_queue_and_a_redelivery_starts_nothing(stage):
    sqs, sfn, dynamodb, queue_url, machine = stage
    bodies = [s3_event(f"incoming/{i}.png", f"v{i}") for i in range(5)] + ["not an event"]
    event = received_batch(sqs, queue_url, bodies)
    answer = starter.handler(event, Context())

    executions = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert len(executions) == 2  # the cap
    started_names = {e["name"] for e in executions}
    by_id = {r["messageId"]: r["body"] for r in event["Records"]}
    deferred = [by_id[f["itemIdentifier"]] for f in answer["batchItemFailures"]]
    assert len(deferred) == 3 and "not an event" not in deferred  # dropped, not retried
    assert {parse_message(b).execution_name() for b in deferred}.isdisjoint(started_names)
    # Deferred messages stay hidden until the next window (an hour here), not retried at once.
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
    [window] = [
        i for i in dynamodb.scan(TableName="starts")["Items"] if i["pk"]["S"].startswith("window#")
    ]
    assert window["starts"]["N"] == "2"

    # The same two uploads delivered again (SQS is at-least-once): nothing new starts.
    started_bodies = [b for b in bodies[:5] if b not in deferred]
    again = starter.handler(received_batch(sqs, queue_url, started_bodies), Context())
    assert again == {"batchItemFailures": []}
    assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == 2


@pytest.mark.integration
def test_a_failed_start_is_retried_not_dropped(stage, monkeypatch):
    sqs, _, _, queue_url, _ = stage
    monkeypatch.setenv(
        "STATE_MACHINE_ARN", "arn:aws:states:us-east-1:123456789012:stateMachine:missing"
    )
    event = received_batch(sqs, queue_url, [s3_event("incoming/a.png", "v1")])
    answer = starter.handler(event, Context())
    assert answer["batchItemFailures"] == [{"itemIdentifier": event["Records"][0]["messageId"]}]


def test_an_event_without_records_is_refused():
    with pytest.raises(InvalidEvent):
        starter.sqs_records({"Records": [{"messageId": 1}]})


@pytest.mark.integration
def test_two_invocations_with_copies_of_one_upload_start_it_once(stage):
    """SQS and S3 deliver at least once: two copies of a message can reach two invocations at
    the same moment. The claim is one conditional write, so only one starts the upload; the
    other's copy is retried while the start is in progress and dropped once it has started."""
    _, sfn, dynamodb, _, machine = stage
    starts = ledger.StartLedger(dynamodb, "starts", cap=2, window_seconds=3600)
    first, stamp = starts.claim("upload-a", 1000.0)
    second, _ = starts.claim("upload-a", 1000.5)  # the other invocation, before the start
    assert (first, second) == (ledger.Claim.CLAIMED, ledger.Claim.IN_PROGRESS)
    starts.record_start("upload-a", f"{machine}:upload-a")
    assert starts.claim("upload-a", 1001.0)[0] is ledger.Claim.STARTED
    assert starts.started("upload-a")
    assert not sfn.list_executions(stateMachineArn=machine)["executions"]  # (ledger only)
    assert stamp == 1_000_000


@pytest.mark.integration
def test_a_released_or_abandoned_claim_can_be_started_by_a_redelivery(stage):
    _, _, dynamodb, _, _ = stage
    starts = ledger.StartLedger(dynamodb, "starts", cap=2, window_seconds=3600)
    claim, stamp = starts.claim("upload-b", 2000.0)
    assert claim is ledger.Claim.CLAIMED
    starts.release("upload-b", stamp)  # no start left in the window, or the start failed
    claim, stamp = starts.claim("upload-b", 2001.0)
    assert claim is ledger.Claim.CLAIMED
    # Its invocation dies before recording a start: while it could still be running, copies
    # wait; once older than any invocation runs, a copy takes the claim over.
    assert (
        starts.claim("upload-b", 2001.0 + ledger.CLAIM_SECONDS - 1)[0] is ledger.Claim.IN_PROGRESS
    )
    late, late_stamp = starts.claim("upload-b", 2002.0 + ledger.CLAIM_SECONDS)
    assert late is ledger.Claim.CLAIMED
    starts.release("upload-b", stamp)  # the dead invocation's stale release changes nothing
    assert starts.claim("upload-b", 2003.0 + ledger.CLAIM_SECONDS)[0] is ledger.Claim.IN_PROGRESS
    assert late_stamp != stamp


@pytest.mark.integration
def test_a_copy_arriving_while_its_upload_is_being_started_is_retried_not_dropped(
    stage, monkeypatch
):
    sqs, sfn, dynamodb, queue_url, machine = stage
    body = s3_event("incoming/c.png", "v3")
    name = parse_message(body).execution_name()
    starts = ledger.StartLedger(dynamodb, "starts", cap=2, window_seconds=3600)
    claim, stamp = starts.claim(name, time.time())  # another invocation is starting it
    assert claim is ledger.Claim.CLAIMED
    event = received_batch(sqs, queue_url, [body])
    answer = starter.handler(event, Context())
    assert answer["batchItemFailures"] == [{"itemIdentifier": event["Records"][0]["messageId"]}]
    assert not sfn.list_executions(stateMachineArn=machine)["executions"]
    starts.release(name, stamp)  # that invocation's start failed: the retried copy starts it
    again = starter.handler(event, Context())
    assert again == {"batchItemFailures": []}
    [execution] = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert execution["name"] == name and starts.started(name)


@pytest.mark.integration
def test_a_deferred_or_failed_upload_leaves_no_claim_behind(stage, monkeypatch):
    """Over the cap, or when StartExecution fails, the claim is released: the message comes
    back and starts then, instead of waiting CLAIM_SECONDS for its claim to go stale."""
    sqs, _, dynamodb, queue_url, machine = stage
    monkeypatch.setenv("STARTS_PER_WINDOW", "1")
    starter.settings.cache_clear()
    bodies = [s3_event("incoming/d.png", "v4"), s3_event("incoming/e.png", "v5")]
    event = received_batch(sqs, queue_url, bodies)
    answer = starter.handler(event, Context())
    assert len(answer["batchItemFailures"]) == 1  # one started, one deferred
    claims = [
        i for i in dynamodb.scan(TableName="starts")["Items"] if i["pk"]["S"].startswith("started#")
    ]
    assert len(claims) == 1 and "execution_arn" in claims[0]  # the deferred one left none
    monkeypatch.setenv("STATE_MACHINE_ARN", machine + "-missing")
    starter.settings.cache_clear()
    failed = starter.handler(
        received_batch(sqs, queue_url, [s3_event("incoming/f.png")]), Context()
    )
    assert len(failed["batchItemFailures"]) == 1
    claims = [
        i for i in dynamodb.scan(TableName="starts")["Items"] if i["pk"]["S"].startswith("started#")
    ]
    assert len(claims) == 1  # the failed start released its claim

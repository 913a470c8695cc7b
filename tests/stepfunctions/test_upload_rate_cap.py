"""The upload path end to end in the emulator, as Terraform wires it: S3 -> EventBridge rule ->
SQS buffer queue -> start_workflow (the built zip, polled as Lambda's SQS mapping does) -> the
real classify_image machine. A burst over the cap: every image is classified, none is lost, no
window starts more than the cap, and the overflow is counted (UploadsDeferred)."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest

from devkit.sqs_event_source import drain
from devkit.stepfunctions_local import wait_for_execution
from lambdas import build
from lambdas.start_workflow import ledger
from tests import images
from tests.stepfunctions.deployed import ROLE_POLICY

CAP, WINDOW_SECONDS, BURST = 3, 4, 7


def emf_values(log_group: str, metric: str) -> list[float]:
    logs = boto3.client("logs")
    values = []
    for stream in logs.describe_log_streams(logGroupName=log_group)["logStreams"]:
        events = logs.get_log_events(logGroupName=log_group, logStreamName=stream["logStreamName"])
        for event in events["events"]:
            line = event["message"]
            if line.startswith("{") and '"_aws"' in line and metric in line:
                value = json.loads(line)[metric]  # Powertools writes a list when repeated
                values.extend(map(float, value if isinstance(value, list) else [value]))
    return values


def upload_path(workflow, lambda_zips):
    """The buffer queue (with its dead-letter queue), the rule, the ledger and the starter."""
    suffix = uuid.uuid4().hex[:8]
    sqs, events, dynamodb, lam, iam = (
        boto3.client(n) for n in ("sqs", "events", "dynamodb", "lambda", "iam")
    )
    dlq_url = sqs.create_queue(QueueName=f"uploads-dlq-{suffix}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue_url = sqs.create_queue(
        QueueName=f"uploads-{suffix}",
        Attributes={
            "VisibilityTimeout": "60",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1000}),
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    rule = f"image-uploaded-{suffix}"
    events.put_rule(
        Name=rule,
        EventPattern=json.dumps(
            {
                "source": ["aws.s3"],
                "detail-type": ["Object Created"],
                "detail": {
                    "bucket": {"name": [workflow.bucket]},
                    "object": {"key": [{"prefix": "incoming/"}]},
                },
            }
        ),
    )
    events.put_targets(Rule=rule, Targets=[{"Id": "buffer", "Arn": queue_arn}])
    workflow.s3.put_bucket_notification_configuration(
        Bucket=workflow.bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    table = f"upload-starts-{suffix}"
    dynamodb.create_table(
        TableName=table,
        **ledger.TABLE_ARGUMENTS,
    )
    role = iam.create_role(RoleName=f"starter-{suffix}", AssumeRolePolicyDocument=ROLE_POLICY)
    layer = lam.publish_layer_version(
        LayerName=f"shared-{suffix}", Content={"ZipFile": lambda_zips[build.SHARED_LAYER]}
    )["LayerVersionArn"]
    function = f"start-workflow-{suffix}"
    lam.create_function(
        FunctionName=function,
        Runtime=build.RUNTIME,
        Role=role["Role"]["Arn"],
        Handler=build.handler_of("start_workflow"),
        Code={"ZipFile": lambda_zips["start_workflow"]},
        Layers=[layer],
        Timeout=30,
        Environment={
            "Variables": {
                "POWERTOOLS_METRICS_NAMESPACE": "VehicleClassifierTest",
                "STATE_MACHINE_ARN": workflow.state_machine_arn,
                "UPLOAD_QUEUE_URL": queue_url,
                "START_LEDGER_TABLE": table,
                "STARTS_PER_WINDOW": str(CAP),
                "WINDOW_SECONDS": str(WINDOW_SECONDS),
            }
        },
    )
    return sqs, lam, dynamodb, queue_url, dlq_url, table, function


def queue_empty(sqs, queue_url: str) -> bool:
    counts = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return all(int(value) == 0 for value in counts.values())


@pytest.mark.integration
def test_a_burst_over_the_cap_is_deferred_counted_and_all_classified(workflow, lambda_zips):
    sqs, lam, dynamodb, queue_url, dlq_url, table, function = upload_path(workflow, lambda_zips)
    keys = [f"incoming/burst-{i}.png" for i in range(BURST)]
    workflow.answer(*[[0.97, 0.03]] * BURST)
    for key in keys:
        workflow.put_image(key, images.seeded(key))
    # Not under incoming/: no start.
    workflow.put_image("elsewhere/not-an-upload.png", images.seeded("elsewhere"))

    drain(sqs, lam, queue_url, function, until=lambda: queue_empty(sqs, queue_url), timeout_s=240)

    executions = workflow.sfn.list_executions(stateMachineArn=workflow.state_machine_arn)[
        "executions"
    ]
    assert len(executions) == BURST  # every upload started once, nothing else
    classified = {}
    for execution in executions:
        described = wait_for_execution(workflow.sfn, execution["executionArn"], timeout_s=180)
        assert described["status"] == "SUCCEEDED", described
        assert execution["name"].startswith("upload-")
        classified[json.loads(described["input"])["s3_key"]] = json.loads(described["output"])
    assert sorted(classified) == keys
    assert {o["outcome"] for o in classified.values()} == {"Routed"}

    windows = [
        int(item["starts"]["N"])
        for item in dynamodb.scan(TableName=table)["Items"]
        if item["pk"]["S"].startswith("window#")
    ]
    assert sum(windows) == BURST and max(windows) <= CAP and len(windows) >= 3
    deferred = emf_values(f"/aws/lambda/{function}", "UploadsDeferred")
    started = emf_values(f"/aws/lambda/{function}", "UploadsStarted")
    assert sum(started) == BURST
    # The first batch holds the whole burst: at most two windows' worth can start from it.
    assert sum(deferred) >= BURST - 2 * CAP
    assert "Messages" not in sqs.receive_message(QueueUrl=dlq_url)  # nothing dead-lettered

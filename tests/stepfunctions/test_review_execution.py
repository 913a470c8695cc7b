"""Review that finishes the routing, executed in the emulator: the classify machine (Express)
starts the review machine (Standard) and ends `SentToReview`; the review execution sends the
review message with a task token and waits; the test plays the reviewer (SendTaskSuccess). Every
final decision leaves a label record.
"""

from __future__ import annotations

import json
import re

import boto3
import pytest
from botocore.exceptions import ClientError

from devkit.stepfunctions_local import review_execution_arn
from tests import images
from tests.stepfunctions.deployed import DEPLOYED_THRESHOLD, REVIEW_OUTCOME_FIELDS

pytestmark = pytest.mark.integration

MESSAGE_FIELDS = {
    "task_token",
    "execution_id",
    "workflow_execution_id",
    "image",
    "s3_bucket",
    "s3_key",
    "reason",
    "classification",
    "decision",
    "inference_id",
    "model_version",
    "requested_at",
    "timeout_seconds",
}
RECORD_FIELDS = {
    "schema_version",
    "image",
    "inference_id",
    "model_version",
    "predicted",
    "confidence",
    "threshold",
    "decision",
    "reason",
    "label",
    "reviewer",
    "decided_at",
    "execution_id",
}


def test_confident_image_is_routed_and_recorded_without_review(workflow):
    execution_arn = workflow.submit("day/bike.png", images.seeded("routed-bike"), [0.97, 0.03])
    output = workflow.finish(execution_arn)
    assert output["outcome"] == "Routed", output
    inference_id = output["classification"]["inference_id"]
    assert output["label_record"] == {
        "status": "written",
        "uri": f"s3://{workflow.labels_bucket}/labels/{inference_id}.jsonl",
    }
    [(key, record)] = workflow.label_records().items()
    assert key == f"labels/{inference_id}.jsonl"
    assert set(record) == RECORD_FIELDS
    assert record | {"decided_at": None} == {
        "schema_version": 1,
        "image": f"s3://{workflow.bucket}/day/bike.png",
        "inference_id": inference_id,
        "model_version": "model-v7",
        "predicted": "bicycle",
        "confidence": 0.97,
        "threshold": DEPLOYED_THRESHOLD,
        "decision": "routed",
        "reason": None,
        "label": None,
        "reviewer": None,
        "decided_at": None,
        "execution_id": execution_arn,
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["decided_at"])
    assert workflow.review_messages() == []


def test_low_confidence_waits_for_the_reviewer_and_routes_by_the_answer(workflow):
    image = images.seeded("reviewed-unsure")
    execution_arn = workflow.submit("day/unsure.png", image, [0.61, 0.39])
    message = workflow.next_review()
    assert set(message) == MESSAGE_FIELDS
    assert message["workflow_execution_id"] == execution_arn
    assert message["execution_id"].split(":")[6] == workflow.review_state_machine_arn.split(":")[6]
    assert message["image"] == f"s3://{workflow.bucket}/day/unsure.png"
    assert (message["s3_bucket"], message["s3_key"]) == (workflow.bucket, "day/unsure.png")
    assert message["reason"] == "low_confidence"
    assert message["decision"]["action"] == "review"
    assert message["classification"]["confidence"] == 0.61
    assert message["inference_id"] == message["classification"]["inference_id"]
    assert message["model_version"] == "model-v7"
    assert message["timeout_seconds"] == 60
    assert message["requested_at"].startswith("20")
    # The Express execution is over: it started the review and said so.
    sent = workflow.finish(execution_arn)
    assert sent["outcome"] == "SentToReview", sent
    assert sent["review"] == {
        "reason": "low_confidence",
        "state_machine_arn": workflow.review_state_machine_arn,
        "execution_name": message["inference_id"],
        "already_started": False,
    }
    assert sent["decision"]["action"] == "review" and "loading_bay" not in sent["decision"]
    assert review_execution_arn(sent) == message["execution_id"]
    # Still waiting for the person: nothing routed, nothing recorded until the reviewer answers.
    assert workflow.sfn.describe_execution(executionArn=message["execution_id"])["status"] == (
        "RUNNING"
    )
    assert workflow.label_records() == {}

    workflow.answer_review(message, "motorcycle", reviewer="rev-42")
    output = workflow.review_outcome(sent)
    assert output["outcome"] == "RoutedByReviewer", output
    assert output["execution_id"] == execution_arn
    assert output["decision"] == {
        "action": "route",
        "label": "motorcycle",
        "reviewer": "rev-42",
        "loading_bay": "bay-12",
        "order_radius_km": 20,
    }
    # The outcome document, field by field: the review machine's last step returns it whole.
    assert set(output) == REVIEW_OUTCOME_FIELDS
    assert output["request"] == {"s3_bucket": workflow.bucket, "s3_key": "day/unsure.png"}
    assert output["classification"] == sent["classification"]
    assert output["review"] == {
        "reason": "low_confidence",
        "model_decision": sent["decision"],
        "review_execution_id": message["execution_id"],
    }
    assert output["label_record"] == {
        "status": "written",
        "uri": f"s3://{workflow.labels_bucket}/labels/{message['inference_id']}.jsonl",
    }
    [record] = workflow.label_records().values()
    assert record["decision"] == "reviewed"
    assert (record["predicted"], record["label"], record["reviewer"]) == (
        "bicycle",
        "motorcycle",
        "rev-42",
    )
    assert record["reason"] == "low_confidence"
    assert record["inference_id"] == message["inference_id"]
    assert record["confidence"] == 0.61 and record["threshold"] == DEPLOYED_THRESHOLD

    with pytest.raises(ClientError):  # the task is finished: a second answer is refused
        workflow.answer_review(message, "bicycle")


def test_not_a_vehicle_is_rejected_and_recorded(workflow):
    execution_arn = workflow.submit("day/blob.png", images.seeded("rejected-blob"), [0.55, 0.45])
    workflow.answer_review(workflow.next_review(), "not_a_vehicle", reviewer="rev-7")
    output = workflow.review_outcome(workflow.finish(execution_arn))
    assert output["outcome"] == "Rejected", output
    assert output["decision"] == {"action": "reject", "label": "not_a_vehicle", "reviewer": "rev-7"}
    assert set(output) == REVIEW_OUTCOME_FIELDS
    assert output["execution_id"] == execution_arn
    assert output["label_record"]["status"] == "written"
    assert workflow.reviewed_by() == ("reviewed", "not_a_vehicle", "rev-7")


def test_unanswered_review_times_out_counts_a_metric_and_records_nothing(deploy_workflow):
    workflow = deploy_workflow(review_timeout_seconds=2)
    execution_arn = workflow.submit("day/late.png", images.seeded("timed-out"), [0.6, 0.4])
    message = workflow.next_review()
    output = workflow.review_outcome(workflow.finish(execution_arn))
    assert output["outcome"] == "ReviewTimedOut", output
    assert output["execution_id"] == execution_arn
    assert output["review"]["timeout_seconds"] == 2
    assert output["decision"]["action"] == "review"
    assert workflow.label_records() == {}
    review_machine = workflow.review_state_machine_arn.split(":")[-1]
    metrics = boto3.client("cloudwatch").list_metrics(
        Namespace="VehicleClassifierTest", MetricName="ReviewTimedOut"
    )["Metrics"]
    assert {"Name": "service", "Value": review_machine} in [
        dimension for metric in metrics for dimension in metric["Dimensions"]
    ]
    with pytest.raises(ClientError):  # too late: the task is gone
        workflow.answer_review(message, "bicycle")


def test_audit_sample_of_confident_images_goes_to_review(deploy_workflow):
    workflow = deploy_workflow({"filter_inferences": {"AUDIT_SAMPLE_RATE": "1"}})
    execution_arn = workflow.submit("day/sure.png", images.seeded("audited"), [0.99, 0.01])
    message = workflow.next_review()
    assert message["reason"] == "audit"
    assert message["decision"]["confidence"] == 0.99
    workflow.answer_review(message, "bicycle")
    output = workflow.review_outcome(workflow.finish(execution_arn))
    assert output["outcome"] == "RoutedByReviewer", output
    assert output["decision"]["loading_bay"] == "bay-bicycle"  # the default routing rules
    [record] = workflow.label_records().values()
    assert (record["reason"], record["predicted"], record["label"]) == (
        "audit",
        "bicycle",
        "bicycle",
    )


def test_an_invalid_answer_ends_failed_not_routed(workflow):
    execution_arn = workflow.submit("day/odd.png", images.seeded("invalid-answer"), [0.6, 0.4])
    workflow.answer_review(workflow.next_review(), "cat")
    output = workflow.review_outcome(workflow.finish(execution_arn))
    assert output["outcome"] == "Failed", output
    assert output["error"] == "InvalidEvent"
    assert "review.label" in json.loads(output["cause"])["errorMessage"]
    assert workflow.label_records() == {}


def test_a_label_record_that_cannot_be_written_is_retried_and_the_route_stands(deploy_workflow):
    workflow = deploy_workflow({"record_label": {"LABELS_BUCKET": "no-such-labels-bucket"}})
    execution_arn = workflow.submit("day/bike.png", images.seeded("unrecorded"), [0.98, 0.02])
    output = workflow.finish(execution_arn)
    assert output["outcome"] == "Routed", output
    assert output["decision"]["loading_bay"] == "bay-bicycle"
    assert output["label_record"]["status"] == "failed"
    assert output["label_record"]["error"] == "StorageUnavailable"
    # one attempt and three retries, then the decision goes on without its record
    assert workflow.failed_attempts(execution_arn, "RecordRouted") == ["StorageUnavailable"] * 4


def test_a_reviewed_label_that_cannot_be_written_still_routes_by_the_answer(deploy_workflow):
    """S3 refuses the write: the review execution still ends RoutedByReviewer with the route,
    and its outcome says the record failed (record_label retried inside; no state retries)."""
    workflow = deploy_workflow({"record_label": {"LABELS_BUCKET": "no-such-labels-bucket"}})
    image = images.seeded("unrecorded-review")
    execution_arn = workflow.submit("day/unsure.png", image, [0.6, 0.4])
    message = workflow.next_review()
    workflow.answer_review(message, "motorcycle", reviewer="rev-5")
    output = workflow.review_outcome(workflow.finish(execution_arn))
    assert output["outcome"] == "RoutedByReviewer", output
    assert output["decision"] == {
        "action": "route",
        "label": "motorcycle",
        "reviewer": "rev-5",
        "loading_bay": "bay-motorcycle",
        "order_radius_km": 15.0,
    }
    assert (output["label_record"]["status"], output["label_record"]["error"]) == (
        "failed",
        "StorageUnavailable",
    )
    assert "NoSuchBucket" in json.loads(output["label_record"]["cause"])["errorMessage"]
    assert workflow.failed_attempts(message["execution_id"], "ApplyAnswer") == []
    assert workflow.label_records() == {}


def test_batch_items_take_the_same_review_path(workflow):
    """A batch item sent to review ends `SentToReview` (the batch does not wait for people); its
    review execution routes it once answered."""
    workflow.put_image("day-9/sure.png", images.seeded("batch-sure"))
    workflow.put_image("day-9/unsure.png", images.seeded("batch-unsure"))
    workflow.answer([0.99, 0.01], [0.3, 0.7])
    output, _ = workflow.run({"s3_bucket": workflow.bucket, "s3_prefix": "day-9/"}, batch=True)
    assert output["outcome"] == "Completed", output
    results = workflow.batch_results(output)
    outcomes = {key: result["outcome"] for key, result in results.items()}
    [reviewed] = [key for key, outcome in outcomes.items() if outcome == "SentToReview"]
    routed = ({"day-9/sure.png", "day-9/unsure.png"} - {reviewed}).pop()
    assert outcomes == {reviewed: "SentToReview", routed: "Routed"}
    message = workflow.next_review()
    assert message["s3_key"] == reviewed
    workflow.answer_review(message, "motorcycle")
    assert workflow.review_outcome(results[reviewed])["outcome"] == "RoutedByReviewer"
    records = {record["image"]: record for record in workflow.label_records().values()}
    assert records[f"s3://{workflow.bucket}/{reviewed}"]["decision"] == "reviewed"
    assert records[f"s3://{workflow.bucket}/{routed}"]["decision"] == "routed"

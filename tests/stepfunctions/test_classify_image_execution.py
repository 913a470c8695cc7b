"""The real classify_image ASL executed by moto's interpreter, our handlers in the Lambda tasks.

Every execution SUCCEEDS with an `outcome`; these tests assert the outcome, the routing and the
retry behaviour seen in the execution history (review: test_review_execution.py).
"""

from __future__ import annotations

import base64
import json

import boto3
import pytest

from contract.images import encode_png, prepare_image
from devkit.photos import PHONE_SIZES, phone_jpeg
from tests import images
from tests.emulated import endpoint_bodies
from tests.stepfunctions.deployed import DEPLOYED_THRESHOLD

pytestmark = pytest.mark.integration


def test_confident_bicycle_is_routed_to_its_bay(workflow):
    workflow.put_image("day/bike.png", images.seeded("bike"))
    workflow.answer([0.97, 0.03])
    output, execution_arn = workflow.run({"s3_bucket": workflow.bucket, "s3_key": "day/bike.png"})
    assert output["outcome"] == "Routed", output.get("cause")
    assert output["decision"] == {
        "action": "route",
        "label": "bicycle",
        "confidence": 0.97,
        "threshold": DEPLOYED_THRESHOLD,
        "loading_bay": "bay-7",
        "order_radius_km": 2.5,
    }
    assert output["classification"]["endpoint_name"] == workflow.endpoint_name
    assert output["classification"]["invoked_variant"] == "AllTraffic"
    assert output["execution_id"] == execution_arn
    assert workflow.review_messages() == []


def test_confident_motorcycle_is_routed_to_its_bay(workflow):
    workflow.put_image("day/moto.jpg", images.seeded("moto"))
    workflow.answer([0.02, 0.98])
    output, _ = workflow.run({"s3_bucket": workflow.bucket, "s3_key": "day/moto.jpg"})
    assert output["outcome"] == "Routed", output.get("cause")
    assert output["decision"]["label"] == "motorcycle"
    assert output["decision"]["loading_bay"] == "bay-12"
    assert output["decision"]["order_radius_km"] == 20
    assert output["classification"]["probabilities"] == {"bicycle": 0.02, "motorcycle": 0.98}


def test_threshold_override_may_only_raise_the_deployed_one(workflow):
    for key in ("a.png", "b.png", "c.png"):
        workflow.put_image(key, images.seeded(f"override-{key}"))
    workflow.answer([0.92, 0.08], [0.92, 0.08], [0.92, 0.08])
    execution_arn = workflow.start(
        {"s3_bucket": workflow.bucket, "s3_key": "a.png", "threshold": 0.95}
    )
    review = workflow.next_review()  # above the deployed threshold, below the stricter one
    assert (review["reason"], review["decision"]["threshold"]) == ("low_confidence", 0.95)
    workflow.answer_review(review, "bicycle")
    sent = workflow.finish(execution_arn)  # the Express execution ends once the review started
    assert workflow.review_outcome(sent)["outcome"] == "RoutedByReviewer"
    deployed, _ = workflow.run({"s3_bucket": workflow.bucket, "s3_key": "b.png"})
    lower, execution_arn = workflow.run(
        {"s3_bucket": workflow.bucket, "s3_key": "c.png", "threshold": 0.5}
    )
    assert (deployed["outcome"], deployed["decision"]["threshold"]) == (
        "Routed",
        DEPLOYED_THRESHOLD,
    )
    # A lower override would route on less confidence than the model earned: refused, typed,
    # the execution's existing error outcome; nothing is routed or queued.
    assert (lower["outcome"], lower["error"]) == ("Failed", "ThresholdBelowDeployed")
    assert "below the deployed threshold 0.9" in json.loads(lower["cause"])["errorMessage"]
    assert workflow.failed_attempts(execution_arn, "FilterInferences") == ["ThresholdBelowDeployed"]
    assert workflow.review_messages() == []  # only the stricter one went to review


def test_invalid_threshold_fails_cleanly(workflow):
    workflow.put_image("c.png", images.seeded("bad-threshold"))
    workflow.answer([0.99, 0.01])
    output, _ = workflow.run({"s3_bucket": workflow.bucket, "s3_key": "c.png", "threshold": 1.5})
    assert output["outcome"] == "Failed"
    assert output["error"] == "InvalidEvent"


def test_non_image_ends_as_invalid_image_without_calling_the_endpoint(workflow):
    workflow.put_image("notes.png", b"these are not the pixels you are looking for")
    workflow.fail_endpoint(500, "InternalFailure", times=1)  # would show if it were called
    output, execution_arn = workflow.run({"s3_bucket": workflow.bucket, "s3_key": "notes.png"})
    assert output["outcome"] == "InvalidImage"
    assert output["error"] == "InvalidImage"
    assert "PNG or JPEG" in json.loads(output["cause"])["errorMessage"]
    assert workflow.failed_attempts(execution_arn, "SerializeImage") == ["InvalidImage"]
    entered = [
        e["stateEnteredEventDetails"]["name"]
        for e in workflow.history(execution_arn)
        if e["type"] == "TaskStateEntered"
    ]
    assert "ClassifyImage" not in entered


def test_oversized_image_is_refused(deploy_workflow):
    workflow = deploy_workflow({"serialize_image": {"MAX_IMAGE_BYTES": "2000"}})
    workflow.put_image("big.png", images.seeded("big", size=(64, 64), noise=True))
    output, _ = workflow.run({"s3_bucket": workflow.bucket, "s3_key": "big.png"})
    assert output["outcome"] == "InvalidImage"
    assert "above the limit of 2000" in output["cause"]


def test_missing_object_is_reported_not_retried(workflow):
    output, execution_arn = workflow.run({"s3_bucket": workflow.bucket, "s3_key": "gone.png"})
    assert output["outcome"] == "InvalidImage"
    assert output["error"] == "ImageNotFound"
    assert workflow.failed_attempts(execution_arn, "SerializeImage") == ["ImageNotFound"]


def test_malformed_request_is_reported(workflow):
    output, _ = workflow.run({"bucket": "uploads", "key": 42})
    assert output["outcome"] == "InvalidImage"
    assert output["error"] == "InvalidEvent"


def test_throttling_is_retried_until_it_succeeds(workflow):
    workflow.put_image("busy.png", images.seeded("throttled"))
    workflow.answer([0.95, 0.05])
    workflow.fail_endpoint(400, "ThrottlingException", times=2)
    output, execution_arn = workflow.run({"s3_bucket": workflow.bucket, "s3_key": "busy.png"})
    assert output["outcome"] == "Routed", output.get("cause")
    assert workflow.failed_attempts(execution_arn, "ClassifyImage") == ["EndpointThrottled"] * 2


@pytest.mark.parametrize(
    ("status", "code", "outcome", "attempts"),
    [
        # one attempt and three retries, then the Catch; never a loop
        (503, "ServiceUnavailable", ("Failed", "EndpointUnavailable"), 4),
        # the model cannot answer this image: no retry
        (424, "ModelError", ("ModelError", "ModelError"), 1),
    ],
    ids=["persistent-5xx-ends-failed-after-the-retries", "model-error-is-not-retried"],
)
def test_endpoint_failure_ends_in_its_outcome(workflow, status, code, outcome, attempts):
    key = f"endpoint-{status}.png"
    workflow.put_image(key, images.seeded(f"endpoint-{status}"))
    workflow.fail_endpoint(status, code, times=100)
    output, execution_arn = workflow.run({"s3_bucket": workflow.bucket, "s3_key": key})
    assert (output["outcome"], output["error"]) == outcome
    assert workflow.failed_attempts(execution_arn, "ClassifyImage") == [outcome[1]] * attempts


def test_garbage_prediction_is_a_model_error(workflow):
    workflow.put_image("garbage.png", images.seeded("garbage"))
    workflow.answer([0.7, 0.7])
    output, _ = workflow.run({"s3_bucket": workflow.bucket, "s3_key": "garbage.png"})
    assert output["outcome"] == "ModelError"
    assert "sum to 1" in output["cause"]


@pytest.mark.parametrize("megapixels", sorted(PHONE_SIZES))
def test_a_phone_photo_travels_as_the_prepared_image(workflow, megapixels):
    """12, 24 (5712x4284, an iPhone's default) and 48 MP: the gate makes the model's input once,
    the endpoint receives that small PNG, and the state data stays a few KB."""
    photo = phone_jpeg(megapixels, seed=megapixels)
    key = f"phone/IMG_{megapixels:04d}.jpg"
    workflow.put_image(key, photo)
    workflow.answer([0.03, 0.97])
    output, execution_arn = workflow.run({"s3_bucket": workflow.bucket, "s3_key": key})
    assert output["outcome"] == "Routed", output.get("cause")
    assert output["decision"]["label"] == "motorcycle"
    handed_over = next(
        json.loads(e["taskSucceededEventDetails"]["output"])["Payload"]["image"]
        for e in workflow.history(execution_arn)
        if e["type"] == "TaskSucceeded" and '"image"' in e["taskSucceededEventDetails"]["output"]
    )
    assert (handed_over["width"], handed_over["height"]) == PHONE_SIZES[megapixels]
    assert handed_over["size_bytes"] == len(photo) and "inline_b64" not in handed_over
    assert len(json.dumps(handed_over)) < 8 * 1024
    prepared = base64.b64decode(handed_over["prepared"]["inline_b64"])
    assert prepared == encode_png(prepare_image(photo))  # the one preparation, made once
    assert prepared in endpoint_bodies(workflow.endpoint_name)


def test_logs_are_json_with_the_execution_id(workflow):
    workflow.put_image("logged.png", images.seeded("logged"))
    workflow.answer([0.99, 0.01])
    _, execution_arn = workflow.run({"s3_bucket": workflow.bucket, "s3_key": "logged.png"})
    logs = boto3.client("logs")
    group = f"/aws/lambda/{workflow.function_names['classify_image']}"
    lines = [
        event["message"]
        for stream in logs.describe_log_streams(logGroupName=group)["logStreams"]
        for event in logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"])[
            "events"
        ]
    ]
    records = [json.loads(line) for line in lines if line.startswith("{")]
    classified = [r for r in records if r.get("message") == "classified"]
    assert classified and classified[0]["execution_id"] == execution_arn
    emf = [r for r in records if "_aws" in r]
    assert emf and emf[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "VehicleClassifierTest"

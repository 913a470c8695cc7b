"""The local run's reviewer: answer the review messages of the demo's executions, then read the
label records back and measure coverage and routed accuracy beside the threshold.

The demo knows each sample image's true class (its folder), so it answers as a careful reviewer
would, through the same `SendTaskSuccess` a reviewer tool sends (stepfunctions/README.md).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from devkit.stepfunctions_local import review_execution_arn, sync_client
from lambdas.shared.documents import ReviewAnswer
from lambdas.shared.label_record import LabelRecord

REVIEWER = "demo-reviewer"


@dataclass
class ReviewedRun:
    output: dict[str, Any]
    answered: str | None = None  # the label the demo answered, if it was asked


@dataclass
class Tally:
    """Coverage and routed accuracy of images of known class at the deployed threshold."""

    threshold: float | None = None
    routed: int = 0
    routed_correct: int = 0
    reviewed: int = 0
    other: dict[str, int] = field(default_factory=dict)

    def add(self, output: dict[str, Any], truth: str) -> None:
        outcome = str(output.get("outcome"))
        decision = output.get("decision") or {}
        model_decision = (output.get("review") or {}).get("model_decision") or decision
        if isinstance(model_decision.get("threshold"), int | float):
            self.threshold = float(model_decision["threshold"])
        if outcome == "Routed":
            self.routed += 1
            self.routed_correct += int(decision.get("label") == truth)
        elif outcome in {"RoutedByReviewer", "Rejected", "ReviewTimedOut"}:
            self.reviewed += 1
        else:
            self.other[outcome] = self.other.get(outcome, 0) + 1

    def summary(self) -> dict[str, Any]:
        decided = self.routed + self.reviewed
        return {
            "threshold": self.threshold,
            "images": decided,
            "routed": self.routed,
            "reviewed": self.reviewed,
            "coverage": self.routed / decided if decided else None,
            "routed_accuracy": self.routed_correct / self.routed if self.routed else None,
        }


def run_with_reviewer(
    sfn: Any,
    sqs: Any,
    queue_url: str,
    start: dict[str, Any],
    *,
    truth: str | None,
    timeout_s: float,
) -> ReviewedRun:
    """Run one classify execution with the synchronous Express call; when it ends
    `SentToReview`, answer its review message with `truth` (`not_a_vehicle` when the image shows
    no vehicle) and return the review execution's outcome."""
    answer = sync_client().start_sync_execution(**start)
    if answer["status"] != "SUCCEEDED":
        return ReviewedRun({"outcome": answer["status"], "error": answer.get("error")})
    output = dict(json.loads(answer.get("output") or "{}"))
    if output.get("outcome") != "SentToReview":
        return ReviewedRun(output)
    review_arn = review_execution_arn(output)
    answered = None
    deadline = time.monotonic() + timeout_s
    while True:
        described = sfn.describe_execution(executionArn=review_arn)
        if described["status"] != "RUNNING":
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"{review_arn} still RUNNING after {timeout_s} s")
        received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1)
        for message in received.get("Messages", []):
            body = json.loads(message["Body"])
            if body.get("execution_id") != review_arn:
                continue  # someone else's review: leave it to them
            answered = truth or "not_a_vehicle"
            sfn.send_task_success(
                taskToken=body["task_token"],
                output=json.dumps(ReviewAnswer(answered, REVIEWER).to_dict()),
            )
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    if described["status"] != "SUCCEEDED":
        return ReviewedRun({"outcome": described["status"], "error": described.get("error")})
    return ReviewedRun(dict(json.loads(described.get("output") or "{}")), answered)


def label_records(s3: Any, labels_uri: str) -> list[LabelRecord]:
    """Every label record under the stage's labels prefix (one JSON line per object), read
    strictly: a record that breaks the schema raises InvalidLabelRecord."""
    bucket, _, prefix = labels_uri.removeprefix("s3://").partition("/")
    records: list[LabelRecord] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
            records.extend(LabelRecord.from_line(line) for line in body.splitlines() if line)
    return records

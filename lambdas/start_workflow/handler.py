"""Lambda entry point of start_workflow (handler: lambdas.start_workflow.handler.handler).

An SQS event source mapping on the upload buffer queue calls it with up to 10 messages, each an
S3 "Object Created" event. Per message, the upload's start is claimed in the ledger first (one
conditional write): already started -> done; being started by another invocation with a copy of
the message -> retried; no start left in this window -> claim released and the message deferred:
it stays in the queue, invisible until the next window; otherwise StartExecution under the
upload's own name (a failed start releases the claim). Deferred and failed messages are returned as
`batchItemFailures` (the mapping reports them with ReportBatchItemFailures), so nothing is
dropped: they come back until started, or after maxReceiveCount land in the dead-letter queue
and page. Malformed messages (no S3 event: only the rule may send here) are counted and dropped.
"""

from __future__ import annotations

import functools
import os
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError

from lambdas.shared.aws import client, error_code
from lambdas.shared.errors import InvalidEvent
from lambdas.shared.events import require_event
from lambdas.shared.observability import instrumented, logger_for, metrics_for
from lambdas.start_workflow.core import StarterSettings, Upload, parse_message, window_at
from lambdas.start_workflow.ledger import Claim, StartLedger

logger = logger_for("start_workflow")
metrics = metrics_for("start_workflow")
# SQS batch APIs take at most 10 entries.
_SQS_BATCH = 10


@functools.cache
def settings() -> StarterSettings:
    return StarterSettings.from_env(os.environ)


def sqs_records(event: object) -> list[Mapping[str, Any]]:
    records = require_event(event).get("Records")
    if not isinstance(records, list):
        raise InvalidEvent("event has no Records list")
    for record in records:
        if not (
            isinstance(record, Mapping)
            and isinstance(record.get("messageId"), str)
            and isinstance(record.get("receiptHandle"), str)
        ):
            raise InvalidEvent("every record needs a messageId and a receiptHandle")
    return records


def start(config: StarterSettings, upload: Upload, name: str) -> str:
    """StartExecution under the upload's name; a name already used means already started."""
    sfn = client("stepfunctions")
    try:
        started = sfn.start_execution(
            stateMachineArn=config.state_machine_arn, name=name, input=upload.execution_input()
        )
    except sfn.exceptions.ExecutionAlreadyExists:
        return config.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
    return str(started["executionArn"])


def defer(config: StarterSettings, records: list[Mapping[str, Any]], seconds: int) -> None:
    """Hide deferred messages until the next window (else they return after the queue's
    visibility timeout, which only delays them more)."""
    sqs = client("sqs")
    for first in range(0, len(records), _SQS_BATCH):
        entries = [
            {"Id": str(i), "ReceiptHandle": r["receiptHandle"], "VisibilityTimeout": seconds}
            for i, r in enumerate(records[first : first + _SQS_BATCH])
        ]
        try:
            failed = sqs.change_message_visibility_batch(
                QueueUrl=config.queue_url, Entries=entries
            ).get("Failed", [])
        except Exception as error:  # deferral still holds, only later
            failed = [{"Code": error_code(error)}]
        if failed:
            logger.warning("could not delay deferred messages", extra={"failed": failed[:3]})


@instrumented(logger, metrics)
def handler(event: Any, context: Any) -> dict[str, Any]:
    config = settings()
    records = sqs_records(event)
    ledger = StartLedger(
        client("dynamodb"), config.ledger_table, config.starts_per_window, config.window_seconds
    )
    counts: Counter[str] = Counter()
    failed: list[Mapping[str, Any]] = []
    deferred: list[Mapping[str, Any]] = []
    full_window: int | None = None
    seconds_left = config.window_seconds
    for record in records:
        try:
            upload = parse_message(record.get("body"))
        except InvalidEvent as error:
            counts["InvalidUploadEvent"] += 1
            logger.warning("dropped a message that is no upload", extra={"error": str(error)})
            continue
        name = upload.execution_name()
        window, seconds_left = window_at(time.time(), config.window_seconds)
        try:
            claim, stamp = ledger.claim(name, time.time())
            if claim is Claim.STARTED:
                counts["UploadsAlreadyStarted"] += 1
                continue
            if claim is Claim.IN_PROGRESS:  # another copy is being started: retry this one
                counts["UploadsInProgress"] += 1
                failed.append(record)
                continue
            if window == full_window or not ledger.take(window):
                ledger.release(name, stamp)
                full_window = window
                deferred.append(record)
                continue
            try:
                execution_arn = start(config, upload, name)
            except (ClientError, BotoCoreError):
                ledger.release(name, stamp)
                raise
            ledger.record_start(name, execution_arn)
            counts["UploadsStarted"] += 1
        except (ClientError, BotoCoreError) as error:
            counts["UploadStartFailed"] += 1
            failed.append(record)
            logger.warning(
                "start failed", extra={"execution_name": name, "error_code": error_code(error)}
            )
    counts["UploadsDeferred"] = len(deferred)
    if deferred:
        defer(config, deferred, seconds_left)
    for metric in ("UploadsStarted", "UploadsDeferred", "UploadsAlreadyStarted"):
        metrics.add_metric(name=metric, unit=MetricUnit.Count, value=counts[metric])
    for metric in ("UploadStartFailed", "InvalidUploadEvent", "UploadsInProgress"):
        if counts[metric]:
            metrics.add_metric(name=metric, unit=MetricUnit.Count, value=counts[metric])
    logger.info("batch handled", extra=dict(counts))
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in failed + deferred]}

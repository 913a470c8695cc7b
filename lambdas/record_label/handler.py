"""Lambda entry point of record_label (handler: lambdas.record_label.handler.handler).

Both state machines call it after the final decision. For the model's decision (the classify
machines' RecordRouted) any S3 failure is raised as StorageUnavailable: the state retries it and,
if it keeps failing, still delivers the routing decision with `label_record.status = "failed"`.

For a reviewer's answer it is the review machine's one step after the wait (each state of a
Standard machine is a billed transition): it routes by the human's label, writes the record
(retried here, botocore standard mode with backoff, bounded to fit the function's timeout) and
returns the whole outcome, `RoutedByReviewer` or `Rejected`; a write that keeps failing leaves
the decision standing with `label_record.status = "failed"` and the error.
"""

from __future__ import annotations

import functools
import json
import os
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError

from lambdas.record_label.core import RecordSettings, read_final, reviewed_outcome
from lambdas.shared.aws import client, error_code
from lambdas.shared.errors import StorageUnavailable
from lambdas.shared.observability import instrumented, logger_for, metrics_for

logger = logger_for("record_label")
metrics = metrics_for("record_label")

# The write of one ~600-byte record: 3 attempts (standard mode's exponential backoff with
# jitter: at most 1 + 2 s between them) of at most 2 s to connect and 6 s to answer, 27 s in the
# worst case: inside the function's 30 s timeout, so a write that hangs still returns the route.
WRITE_ATTEMPTS = 3
WRITE_CONNECT_TIMEOUT_S = 2.0
WRITE_READ_TIMEOUT_S = 6.0


@functools.cache
def settings() -> RecordSettings:
    return RecordSettings.from_env(os.environ)


def put_record(config: RecordSettings, key: str, line: bytes, replace: bool) -> bool:
    """Write the record; False when `replace` is off and a record is already there (S3's
    conditional write refused it: PreconditionFailed), which leaves that record as it is."""
    options: dict[str, str] = {"ServerSideEncryption": "aws:kms"}
    if config.kms_key_id:
        options["SSEKMSKeyId"] = config.kms_key_id
    if not replace:
        options["IfNoneMatch"] = "*"
    s3 = client("s3", WRITE_ATTEMPTS, WRITE_READ_TIMEOUT_S, WRITE_CONNECT_TIMEOUT_S)
    try:
        s3.put_object(
            Bucket=config.bucket,
            Key=key,
            Body=line,
            ContentType="application/x-ndjson",
            **options,
        )
    except (ClientError, BotoCoreError) as error:
        code = error_code(error)
        if code == "PreconditionFailed" and not replace:
            return False
        raise StorageUnavailable(f"s3://{config.bucket}/{key}: {code}: {error}") from None
    return True


def _failed(error: StorageUnavailable) -> dict[str, Any]:
    """`label_record` of a write that kept failing: the error name and, as the machines' `cause`
    always is, a JSON string of the error."""
    cause = {"errorType": type(error).__name__, "errorMessage": str(error)}
    return {"status": "failed", "error": type(error).__name__, "cause": json.dumps(cause)}


@instrumented(logger, metrics)
def handler(event: Any, context: Any) -> dict[str, Any]:
    config = settings()
    final = read_final(event, datetime.now(UTC))
    record = final.record
    key = record.key(config.prefix)
    uri = f"s3://{config.bucket}/{key}"
    if final.answer is None:
        # Keyed by the inference id, so a repeated run lands on the same object; the model's
        # decision never replaces a record (a second write is a no-op).
        written = put_record(config, key, record.json_line(), replace=False)
        message = "label recorded" if written else "label already recorded"
        logger.info(message, extra={"uri": uri, "decision": record.decision})
        return {"uri": uri, "record": record.to_dict(), "written": written}
    # A reviewer's label is final and supersedes the model's record (its review execution,
    # named by the inference id, runs once).
    try:
        put_record(config, key, record.json_line(), replace=True)
        label_record: dict[str, Any] = {"status": "written", "uri": uri}
    except StorageUnavailable as error:
        logger.error("label not recorded", extra={"uri": uri, "error": str(error)})
        metrics.add_metric(name="LabelNotRecorded", unit=MetricUnit.Count, value=1)
        label_record = _failed(error)
    outcome = reviewed_outcome(final, config.routes, label_record)
    metrics.add_metric(name=outcome["outcome"], unit=MetricUnit.Count, value=1)
    if record.reason == "audit":
        # The audit sample is random among the answers the model routes: its wrong share is the
        # live misroute rate, which the LiveMisrouteRate alarm watches (README "Live quality").
        metrics.add_metric(name="AuditReviewed", unit=MetricUnit.Count, value=1)
        misrouted = int(record.reviewer_disagrees)
        metrics.add_metric(name="AuditMisrouted", unit=MetricUnit.Count, value=misrouted)
    logger.info("reviewed", extra={**outcome["decision"], "label_record": label_record["status"]})
    return outcome

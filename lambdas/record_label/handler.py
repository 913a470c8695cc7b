"""Lambda entry point of record_label (handler: lambdas.record_label.handler.handler).

Both state machines call it after the final decision (routed by the model, or answered by a
reviewer). Any S3 failure is raised as StorageUnavailable: the state machine retries it and, if
it keeps failing, still delivers the routing decision with `label_record.status = "failed"`.
"""

from __future__ import annotations

import functools
import os
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambdas.record_label.core import RecordSettings, build_record
from lambdas.shared.aws import client, error_code
from lambdas.shared.errors import StorageUnavailable
from lambdas.shared.observability import instrumented, logger_for, metrics_for

logger = logger_for("record_label")
metrics = metrics_for("record_label")


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
    try:
        client("s3").put_object(
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


@instrumented(logger, metrics)
def handler(event: Any, context: Any) -> dict[str, Any]:
    config = settings()
    record = build_record(event, datetime.now(UTC))
    key = record.key(config.prefix)
    # Keyed by the inference id, so a repeated run lands on the same object. The model's
    # decision never replaces a record (a second write is a no-op); a reviewer's label is final
    # and supersedes it (its review execution, named by the inference id, runs once).
    written = put_record(config, key, record.json_line(), replace=record.decision == "reviewed")
    uri = f"s3://{config.bucket}/{key}"
    message = "label recorded" if written else "label already recorded"
    logger.info(message, extra={"uri": uri, "decision": record.decision})
    return {"uri": uri, "record": record.to_dict(), "written": written}

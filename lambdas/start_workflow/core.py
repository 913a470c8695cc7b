"""Pure logic of start_workflow: settings, the upload an SQS message names, the execution's
name and input, and the rate window.

The upload path is S3 -> EventBridge rule -> SQS buffer queue -> this function -> StartExecution.
The queue absorbs any burst; this function starts at most STARTS_PER_WINDOW executions per
WINDOW_SECONDS (Terraform: the stage's `upload_starts_per_minute`, window 60 s) and leaves the
rest in the queue until the next window. The window is a fixed calendar window counted by one
atomic conditional write per start (lambdas/start_workflow/ledger.py): no read before the write,
exact under any concurrency; across a window boundary at most twice the cap can start within 60 s.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from lambdas.shared import bounded_json
from lambdas.shared.config import env_int, env_str
from lambdas.shared.errors import ConfigurationError, InvalidEvent
from lambdas.shared.events import optional_str, require_mapping, s3_location

# An S3 "Object Created" event from EventBridge is about 1 KB; far more is not one.
MAX_MESSAGE_BYTES = 64 * 1024
_STATE_MACHINE_ARN = re.compile(
    r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[\w-]{1,80}$"
)
_QUEUE_URL = re.compile(r"^https?://\S+/\d{12}/[\w-]{1,80}$")
_TABLE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
# The largest visibility timeout SQS accepts is 12 h; a window never needs to be longer.
MAX_WINDOW_SECONDS = 43200


@dataclass(frozen=True)
class StarterSettings:
    state_machine_arn: str
    queue_url: str
    ledger_table: str
    starts_per_window: int
    window_seconds: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> StarterSettings:
        arn = env_str(env, "STATE_MACHINE_ARN")
        if not _STATE_MACHINE_ARN.match(arn):
            raise ConfigurationError(f"STATE_MACHINE_ARN={arn!r} is not a state machine ARN")
        queue_url = env_str(env, "UPLOAD_QUEUE_URL")
        if not _QUEUE_URL.match(queue_url):
            raise ConfigurationError(f"UPLOAD_QUEUE_URL={queue_url!r} is not an SQS queue URL")
        table = env_str(env, "START_LEDGER_TABLE")
        if not _TABLE.match(table):
            raise ConfigurationError(f"START_LEDGER_TABLE={table!r} is not a DynamoDB table name")
        window = env_int(env, "WINDOW_SECONDS", 60, minimum=1)
        if window > MAX_WINDOW_SECONDS:
            raise ConfigurationError(f"WINDOW_SECONDS={window} is above {MAX_WINDOW_SECONDS}")
        env_str(env, "STARTS_PER_WINDOW")  # required: the stage's cap, no built-in default
        starts = env_int(env, "STARTS_PER_WINDOW", 0, minimum=1)
        return cls(arn, queue_url, table, starts, window)


@dataclass(frozen=True)
class Upload:
    bucket: str
    key: str
    version_id: str | None
    sequencer: str | None
    etag: str | None

    def execution_name(self) -> str:
        """The same object version always gets the same name, so a redelivered message cannot
        start a second execution; a new version of the key (an overwrite) gets a new one."""
        identity = "\n".join(
            [self.bucket, self.key, self.version_id or "", self.sequencer or "", self.etag or ""]
        )
        return "upload-" + hashlib.sha256(identity.encode("utf-8")).hexdigest()[:40]

    def execution_input(self) -> str:
        """Only the object: an uploader cannot set a threshold or any option."""
        return json.dumps({"s3_bucket": self.bucket, "s3_key": self.key})


def parse_message(body: object) -> Upload:
    """The upload an EventBridge "Object Created" event (an SQS message body) names."""
    if not isinstance(body, str):
        raise InvalidEvent("message body must be a string")
    try:
        event = bounded_json.loads(body, max_bytes=MAX_MESSAGE_BYTES, what="message body")
    except ValueError as error:
        raise InvalidEvent(str(error)) from None
    event = require_mapping(event, "message body")
    if event.get("source") != "aws.s3" or event.get("detail-type") != "Object Created":
        raise InvalidEvent("message is not an S3 'Object Created' event")
    detail = require_mapping(event.get("detail"), "detail")
    bucket = require_mapping(detail.get("bucket"), "detail.bucket")
    obj = require_mapping(detail.get("object"), "detail.object")
    location = s3_location({"s3_bucket": bucket.get("name"), "s3_key": obj.get("key")})
    return Upload(
        bucket=location[0],
        key=location[1],
        version_id=optional_str(obj, "version-id", 1024),
        sequencer=optional_str(obj, "sequencer", 256),
        etag=optional_str(obj, "etag", 256) or optional_str(obj, "eTag", 256),
    )


def window_at(now: float, window_seconds: int) -> tuple[int, int]:
    """(the window `now` falls in, whole seconds until the next one starts, at least 1)."""
    window = math.floor(now / window_seconds)
    left = math.ceil((window + 1) * window_seconds - now)
    return window, max(1, left)

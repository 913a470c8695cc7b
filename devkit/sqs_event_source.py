"""Lambda's SQS poller, for the emulator: receive a batch, invoke the function, delete what it
did not report in `batchItemFailures`.

moto runs an event source mapping only when a message is sent (one record per invoke), ignores
`batchItemFailures` and never polls again, so a message the function leaves in the queue (the
upload starter's deferred images) would never come back. `drain` does what the real mapping
does with `FunctionResponseTypes = ["ReportBatchItemFailures"]`: poll, invoke synchronously with
the same record shape, delete the successes; a function error leaves the whole batch to
reappear after its visibility timeout.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any


def _record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(message["Body"].encode("utf-8")).hexdigest(),  # noqa: S324 - SQS's own checksum
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def poll_once(sqs: Any, lam: Any, queue_url: str, function_name: str, batch_size: int = 10) -> int:
    """One poll and invoke; returns how many messages were received (0: none visible)."""
    received = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=batch_size, AttributeNames=["All"]
    ).get("Messages", [])
    if not received:
        return 0
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    event = {"Records": [_record(m, queue_arn, sqs.meta.region_name) for m in received]}
    answer = lam.invoke(FunctionName=function_name, Payload=json.dumps(event).encode())
    payload = json.loads(answer["Payload"].read() or b"null")
    if answer.get("FunctionError"):
        return len(received)
    failed = {f["itemIdentifier"] for f in (payload or {}).get("batchItemFailures", [])}
    done = [m for m in received if m["MessageId"] not in failed]
    for first in range(0, len(done), 10):
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(done[first : first + 10])
            ],
        )
    return len(received)


def drain(
    sqs: Any,
    lam: Any,
    queue_url: str,
    function_name: str,
    *,
    until: Callable[[], bool],
    timeout_s: float,
    idle_sleep_s: float = 0.5,
) -> None:
    """Poll until `until()` holds (TimeoutError after `timeout_s`)."""
    deadline = time.monotonic() + timeout_s
    while not until():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{queue_url} not drained within {timeout_s} s")
        if not poll_once(sqs, lam, queue_url, function_name):
            time.sleep(idle_sleep_s)

"""The start ledger: one DynamoDB table per stage counts starts per window and remembers which
uploads were started, so the cap holds across concurrent invocations and a redelivered message
starts nothing, whatever the state machine type (Express does not refuse a reused name).

Items (partition key `pk`, TTL attribute `expires_at`):
    window#<n>       starts: how many executions window n started (conditional ADD, never above
                     the cap)
    started#<name>   claimed_at, then execution_arn: the invocation that claimed the upload's
                     start, then the execution it started (kept as long as the queue can
                     redeliver the message)

The claim is one conditional write before the start, so two invocations holding copies of the
same upload's message (SQS and S3 both deliver at least once) cannot both start it: the loser
sees `STARTED` (drop its copy) or `IN_PROGRESS` (retry its copy later: the winner may still
fail and release the claim). A claim whose invocation died before recording an execution is
taken over once older than any invocation can run (`CLAIM_SECONDS`).
"""

from __future__ import annotations

import contextlib
import time
from enum import Enum
from typing import Any

# The table as terraform/modules/inference_workflow/upload_path.tf declares it (hash key `pk`, a
# string; on demand): the emulator tests and the benchmark create theirs with these arguments.
TABLE_ARGUMENTS: dict[str, Any] = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
}
# SQS keeps a message at most 14 days: a redelivery can come no later than that.
STARTED_TTL_SECONDS = 14 * 24 * 3600
# Lambda's longest timeout: a claim without an execution older than this has no live owner.
CLAIM_SECONDS = 900


class Claim(Enum):
    CLAIMED = "claimed"  # this invocation starts the upload
    STARTED = "started"  # an execution was started for it: nothing to do
    IN_PROGRESS = "in_progress"  # another invocation is starting it now: retry later


class StartLedger:
    def __init__(self, dynamodb: Any, table: str, cap: int, window_seconds: int) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._cap = cap
        self._window_seconds = window_seconds

    def take(self, window: int) -> bool:
        """Claim one start in `window`; False when the window already started `cap`."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"window#{window}"}},
                UpdateExpression="ADD starts :one SET expires_at = :expires",
                ConditionExpression="attribute_not_exists(starts) OR starts < :cap",
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":cap": {"N": str(self._cap)},
                    ":expires": {"N": str((window + 2) * self._window_seconds + 3600)},
                },
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def started(self, name: str) -> bool:
        found = self._dynamodb.get_item(
            TableName=self._table, Key={"pk": {"S": f"started#{name}"}}, ConsistentRead=True
        )
        return "execution_arn" in found.get("Item", {})

    def claim(self, name: str, now: float) -> tuple[Claim, int]:
        """Claim the start of upload `name` at `now`; returns the outcome and the claim's stamp
        (for `release`)."""
        stamp = int(now * 1000)
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": f"started#{name}"},
                    "claimed_at": {"N": str(stamp)},
                    "expires_at": {"N": str(int(now) + STARTED_TTL_SECONDS)},
                },
                ConditionExpression="attribute_not_exists(pk) OR "
                "(attribute_not_exists(execution_arn) AND claimed_at < :stale)",
                ExpressionAttributeValues={":stale": {"N": str(stamp - CLAIM_SECONDS * 1000)}},
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return (Claim.STARTED if self.started(name) else Claim.IN_PROGRESS), stamp
        return Claim.CLAIMED, stamp

    def release(self, name: str, stamp: int) -> None:
        """Give back this invocation's claim (no start left in the window, or the start
        failed), so that a redelivered copy can start the upload; a claim another invocation
        has since taken over is left alone."""
        with contextlib.suppress(self._dynamodb.exceptions.ConditionalCheckFailedException):
            self._dynamodb.delete_item(
                TableName=self._table,
                Key={"pk": {"S": f"started#{name}"}},
                ConditionExpression="attribute_not_exists(execution_arn) AND claimed_at = :mine",
                ExpressionAttributeValues={":mine": {"N": str(stamp)}},
            )

    def record_start(self, name: str, execution_arn: str) -> None:
        self._dynamodb.update_item(
            TableName=self._table,
            Key={"pk": {"S": f"started#{name}"}},
            UpdateExpression="SET execution_arn = :arn, expires_at = :expires",
            ExpressionAttributeValues={
                ":arn": {"S": execution_arn},
                ":expires": {"N": str(int(time.time()) + STARTED_TTL_SECONDS)},
            },
        )

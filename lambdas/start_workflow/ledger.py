"""The start ledger: one DynamoDB table per stage counts starts per window and remembers which
uploads were started, so the cap holds across concurrent invocations and a redelivered message
starts nothing, whatever the state machine type (Express does not refuse a reused name).

Items (partition key `pk`, TTL attribute `expires_at`):
    window#<n>       starts: how many executions window n started (conditional ADD, never above
                     the cap)
    started#<name>   execution_arn: the execution an upload started (kept as long as the queue
                     can redeliver the message)
"""

from __future__ import annotations

import time
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
        return "Item" in found

    def record_start(self, name: str, execution_arn: str) -> None:
        self._dynamodb.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": f"started#{name}"},
                "execution_arn": {"S": execution_arn},
                "expires_at": {"N": str(int(time.time()) + STARTED_TTL_SECONDS)},
            },
        )

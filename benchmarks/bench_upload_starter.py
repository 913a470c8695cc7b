"""Figures for the upload starter (lambdas/start_workflow): time per message when it starts the
workflow and when the window is full (deferred), against the emulator.

    .venv/bin/python -m benchmarks.bench_upload_starter [--messages 200]

A start costs a ledger read, one conditional write, StartExecution and a ledger write; a deferred
message a ledger read and its share of one ChangeMessageVisibilityBatch (after the first refusal
the rest of the batch skips the ledger). The emulator's per-call latency is not AWS's: compare the
two paths, not the absolute figures.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import boto3

from contract.cli import CliParser
from devkit import emulator
from lambdas.shared import aws
from lambdas.start_workflow import handler, ledger

MACHINE = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})


def _event(key: str) -> str:
    detail = {"bucket": {"name": "uploads"}, "object": {"key": key, "etag": key, "sequencer": "1"}}
    return json.dumps({"source": "aws.s3", "detail-type": "Object Created", "detail": detail})


def _setup(cap: int) -> tuple[Any, str]:
    suffix = str(time.monotonic_ns())
    dynamodb, sqs, sfn = (boto3.client(n) for n in ("dynamodb", "sqs", "stepfunctions"))
    table = f"starts-{suffix}"
    dynamodb.create_table(
        TableName=table,
        **ledger.TABLE_ARGUMENTS,
    )
    queue_url = sqs.create_queue(QueueName=f"uploads-{suffix}")["QueueUrl"]
    machine = sfn.create_state_machine(
        name=f"m-{suffix}", definition=MACHINE, roleArn="arn:aws:iam::123456789012:role/r"
    )["stateMachineArn"]
    os.environ.update(
        STATE_MACHINE_ARN=machine,
        UPLOAD_QUEUE_URL=queue_url,
        START_LEDGER_TABLE=table,
        STARTS_PER_WINDOW=str(cap),
        WINDOW_SECONDS="3600",
    )
    return sqs, queue_url


def _run(cap: int, messages: int) -> float:
    """Milliseconds per message handled by the starter, in batches of 10."""
    sqs, queue_url = _setup(cap)
    handler.settings.cache_clear()
    aws.client.cache_clear()
    elapsed = 0.0
    for first in range(0, messages, 10):
        for i in range(first, min(first + 10, messages)):
            sqs.send_message(QueueUrl=queue_url, MessageBody=_event(f"incoming/{cap}-{i}.png"))
        received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
        records = [
            {"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"]}
            for m in received
        ]
        started = time.perf_counter()
        handler.handler({"Records": records}, None)
        elapsed += time.perf_counter() - started
    return elapsed * 1000 / messages


def main(argv: list[str] | None = None) -> int:
    parser = CliParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args(argv)
    running = emulator.start()
    os.environ.update(running.env())
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Bench")
    started = _run(cap=10**6, messages=args.messages)
    deferred = _run(cap=1, messages=args.messages)
    print(f"upload starter, {args.messages} messages per path, batches of 10 (emulator)")
    print(
        f"  started : {started:7.2f} ms/message ({1000 / started:7.1f} messages/s, one invocation)"
    )
    print(f"  deferred: {deferred:7.2f} ms/message ({1000 / deferred:7.1f} messages/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

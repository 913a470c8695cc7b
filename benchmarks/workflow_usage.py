"""Count what one image costs in request-priced services by running the real workflow.

The repo's ASL, Lambda zips and review machine are deployed into the emulator the way the
workflow tests deploy them (`tests.stepfunctions.deployed.deploy`, so a change of the
definitions or of the machines' types shows here), then one image per outcome runs to its end,
a reviewer answering where the path waits for one. For every execution the image caused (on
any of the machines) it counts the states entered and the task retries (Standard bills both
as transitions), the Lambda invocations per function, the history events (what an ALL-level
execution log writes, sized without inputs and outputs as that log is configured) and the
functions' log bytes; label records written are counted from the bucket.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from devkit import emulator as emulator_module
from devkit.moto_patches import sagemaker_runtime
from lambdas import build
from tests.stepfunctions.deployed import deploy

# Lines the Lambda service adds to every invocation's log (START, END, REPORT), in bytes.
LAMBDA_SERVICE_LOG_BYTES = 300
# The history fields that an execution log without execution data leaves out.
EXECUTION_DATA_FIELDS = {"input", "output", "inputDetails", "outputDetails", "parameters"}
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


@dataclass
class PathCount:
    """Everything one image caused on its way to an outcome."""

    outcome: str
    standard_transitions: int = 0
    express_executions: int = 0
    express_transitions: int = 0
    lambda_invocations: Counter[str] = field(default_factory=Counter)
    # The calls made inside Express executions: their time is the Express duration billed.
    express_invocations: Counter[str] = field(default_factory=Counter)
    execution_log_bytes: int = 0
    function_log_bytes: int = 0
    label_records: int = 0


def _strip_execution_data(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_execution_data(v) for k, v in value.items() if k not in EXECUTION_DATA_FIELDS
        }
    return value


def count_execution(sfn: Any, execution_arn: str, function_of: dict[str, str]) -> PathCount:
    """Transitions, Lambda calls and log size of one finished execution (`function_of` maps a
    deployed function name to the repo's)."""
    events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    entered = sum(1 for e in events if e["type"].endswith("StateEntered"))
    tasks_entered = sum(1 for e in events if e["type"] == "TaskStateEntered")
    calls: Counter[str] = Counter()
    for event in events:
        details = event.get("lambdaFunctionScheduledEventDetails") or event.get(
            "taskScheduledEventDetails"
        )
        if not details:
            continue
        resource = str(details.get("resource", ""))
        target = (
            json.loads(details["parameters"]).get("FunctionName", resource)
            if "parameters" in details
            else resource
        )
        for deployed, name in function_of.items():
            if deployed in str(target):
                calls[name] += 1
    scheduled = sum(1 for e in events if e["type"] in {"TaskScheduled", "LambdaFunctionScheduled"})
    retries = max(0, scheduled - tasks_entered)
    log_bytes = sum(len(json.dumps(_strip_execution_data(e), default=str)) for e in events)
    count = PathCount(outcome="", lambda_invocations=calls, execution_log_bytes=log_bytes)
    machine_arn = sfn.describe_execution(executionArn=execution_arn)["stateMachineArn"]
    if sfn.describe_state_machine(stateMachineArn=machine_arn).get("type") == "EXPRESS":
        count.express_executions, count.express_transitions = 1, entered + retries
        count.express_invocations = Counter(calls)
    else:
        count.standard_transitions = entered + retries
    return count


def add(total: PathCount, part: PathCount) -> None:
    total.standard_transitions += part.standard_transitions
    total.express_executions += part.express_executions
    total.express_transitions += part.express_transitions
    total.lambda_invocations.update(part.lambda_invocations)
    total.express_invocations.update(part.express_invocations)
    total.execution_log_bytes += part.execution_log_bytes
    total.function_log_bytes += part.function_log_bytes


def _executions(sfn: Any, machine_arns: list[str]) -> dict[str, str]:
    found = {}
    for arn in machine_arns:
        for execution in sfn.list_executions(stateMachineArn=arn, maxResults=1000)["executions"]:
            found[execution["executionArn"]] = execution["status"]
    return found


def _log_bytes(group: str) -> int:
    logs = boto3.client("logs")
    try:
        streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    except logs.exceptions.ResourceNotFoundException:
        return 0
    return sum(
        len(event["message"].encode())
        for stream in streams
        for event in logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"])[
            "events"
        ]
    )


class Harness:
    """The deployed workflow plus what has been counted so far."""

    def __init__(self, workflow: Any) -> None:
        self.workflow = workflow
        self.sfn = workflow.sfn
        self.machines = [
            workflow.state_machine_arn,
            workflow.review_state_machine_arn,
        ]
        self.function_of = {deployed: name for name, deployed in workflow.function_names.items()}

    def _function_logs(self) -> int:
        return sum(_log_bytes(f"/aws/lambda/{d}") for d in self.function_of)

    def _labels(self) -> int:
        listed = self.workflow.s3.list_objects_v2(Bucket=self.workflow.labels_bucket)
        return int(listed.get("KeyCount", 0))

    def run(
        self, outcome: str, key: str, image: bytes, answer: list[float], review_label: str | None
    ) -> PathCount:
        before = set(_executions(self.sfn, self.machines))
        logs_before, labels_before = self._function_logs(), self._labels()
        self.workflow.put_image(key, image)
        self.workflow.answer(answer)
        self.workflow.start({"s3_bucket": self.workflow.bucket, "s3_key": key})
        if review_label is not None:
            self.workflow.answer_review(self.workflow.next_review(), review_label)
        new = self._wait_for_new(before)
        total = PathCount(outcome=outcome)
        for execution_arn in new:
            add(total, count_execution(self.sfn, execution_arn, self.function_of))
        invocations = sum(total.lambda_invocations.values())
        total.function_log_bytes = (
            self._function_logs() - logs_before + invocations * LAMBDA_SERVICE_LOG_BYTES
        )
        total.label_records = self._labels() - labels_before
        return total

    def _wait_for_new(self, before: set[str], timeout_s: float = 180.0) -> list[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            now = _executions(self.sfn, self.machines)
            new = {arn: status for arn, status in now.items() if arn not in before}
            if new and all(status in TERMINAL for status in new.values()):
                return sorted(new)
            time.sleep(0.5)
        raise TimeoutError(f"executions still running after {timeout_s} s")


def measure_paths(images: dict[str, bytes]) -> list[PathCount]:
    """One image per outcome through the deployed workflow: routed at once, routed by a
    reviewer, rejected by a reviewer, and an upload that is no image (`images` gives the PNG
    bytes of the first three, keyed by outcome)."""
    running = emulator_module.start()
    os.environ.update(running.env())
    sagemaker_runtime.reset_endpoints(running.region)
    with tempfile.TemporaryDirectory() as out:
        zips = {a.name: Path(a.path).read_bytes() for a in build.build(Path(out))}
    harness = Harness(deploy(running, zips, {}))
    return [
        harness.run("Routed", "routed.png", images["Routed"], [0.97, 0.03], None),
        harness.run(
            "RoutedByReviewer", "reviewed.png", images["RoutedByReviewer"], [0.6, 0.4], "motorcycle"
        ),
        harness.run("Rejected", "rejected.png", images["Rejected"], [0.55, 0.45], "not_a_vehicle"),
        harness.run("InvalidImage", "invalid.png", b"not an image", [0.5, 0.5], None),
    ]

"""Render the ASL templates in stepfunctions/ the way Terraform's templatefile() does, and run
them in the emulator's Step Functions interpreter.

The templates only use `${snake_case}` placeholders (no directives), so rendering is a plain
substitution; strings are JSON-escaped, numbers written bare. A missing or unknown value is an
error, like in templatefile().
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from contract.cli import CliParser

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = REPO_ROOT / "stepfunctions"
PLACEHOLDER = re.compile(r"\$\{([a-z][a-z0-9_]*)\}")
_ACCOUNT = "123456789012"
_FUNCTIONS = f"arn:aws:lambda:us-east-1:{_ACCOUNT}:function"

# Values for validating the templates without any deployment (used by scripts/checks/30-asl.sh).
DUMMY_VALUES: dict[str, object] = {
    "serialize_image_function_arn": f"{_FUNCTIONS}:serialize_image:live",
    "classify_image_function_arn": f"{_FUNCTIONS}:classify_image:live",
    "filter_inferences_function_arn": f"{_FUNCTIONS}:filter_inferences:live",
    "record_label_function_arn": f"{_FUNCTIONS}:record_label:live",
    "review_state_machine_arn": f"arn:aws:states:us-east-1:{_ACCOUNT}:stateMachine:review",
    "review_queue_url": f"https://sqs.us-east-1.amazonaws.com/{_ACCOUNT}/review",
    "review_timeout_seconds": 86400,
    "metrics_namespace": "VehicleClassifier",
    "retry_interval_seconds": 2,
    "retry_max_delay_seconds": 30,
    "batch_results_bucket": "batch-results",
    "batch_results_prefix": "batch-results/",
    "batch_max_concurrency": 50,
}


class TemplateError(ValueError):
    """A template needs a value that was not given, or was given one it does not use."""


def placeholders(template: str) -> set[str]:
    return set(PLACEHOLDER.findall(template))


def render(template: str, values: Mapping[str, object]) -> str:
    needed = placeholders(template)
    missing = needed - set(values)
    if missing:
        raise TemplateError(f"no value for {sorted(missing)}")
    unused = set(values) - needed
    if unused:
        raise TemplateError(f"values not used by the template: {sorted(unused)}")

    def substitute(match: re.Match[str]) -> str:
        value = values[match.group(1)]
        if isinstance(value, str):
            return json.dumps(value)[1:-1]
        return json.dumps(value)

    rendered = PLACEHOLDER.sub(substitute, template)
    json.loads(rendered)  # a rendered template must be JSON
    return rendered


def render_file(name: str, values: Mapping[str, object]) -> str:
    path = TEMPLATES / name
    template = path.read_text()
    needed = placeholders(template)
    return render(template, {key: value for key, value in values.items() if key in needed})


def wait_for_execution(sfn: Any, execution_arn: str, timeout_s: float = 120.0) -> dict[str, Any]:
    """Poll DescribeExecution until the execution leaves RUNNING (moto runs it in a thread)."""
    deadline = time.monotonic() + timeout_s
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        if time.monotonic() > deadline:
            raise TimeoutError(f"{execution_arn} still RUNNING after {timeout_s} s")
        time.sleep(0.1)


def sync_client(**options: Any) -> Any:
    """A Step Functions client for StartSyncExecution against the emulator: botocore sends that
    call to the `sync-` host prefix, which a loopback address does not have."""
    return boto3.client("stepfunctions", config=Config(inject_host_prefix=False), **options)


def review_execution_arn(sent: Mapping[str, Any]) -> str:
    """The ARN of the review execution a `SentToReview` outcome names (its name is the
    inference id; execution ARNs are the machine's with `execution` for `stateMachine`)."""
    review = sent["review"]
    machine = str(review["state_machine_arn"]).replace(":stateMachine:", ":execution:", 1)
    return f"{machine}:{review['execution_name']}"


def states_entered(sfn: Any, execution_arn: str) -> list[str]:
    """The states an execution entered, in order, from its history in the emulator (what a
    Standard execution is billed by: one state transition each; retries add one per attempt).
    Real Step Functions keeps no such history for Express executions."""
    events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    return [
        event["stateEnteredEventDetails"]["name"]
        for event in events
        if event["type"].endswith("StateEntered")
    ]


def main(argv: list[str] | None = None) -> int:
    parser = CliParser(description="Render an ASL template with dummy values.")
    parser.add_argument("template", help="a file in stepfunctions/")
    args = parser.parse_args(argv)
    if not (TEMPLATES / args.template).is_file():
        known = ", ".join(sorted(path.name for path in TEMPLATES.glob("*.asl.json")))
        print(
            f"error: no template {args.template!r} in {TEMPLATES} (there: {known})", file=sys.stderr
        )
        return 2
    sys.stdout.write(render_file(args.template, DUMMY_VALUES))
    return 0


if __name__ == "__main__":
    sys.exit(main())

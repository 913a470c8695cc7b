"""Verify a rollout after `terraform apply`: the endpoint serves the promoted model, and the
workflow answers.

`terraform apply` can report success while SageMaker rolled a blue/green update back (or never
finished it): Terraform's state then names an endpoint config that is not serving. This check
asks SageMaker itself:

1. the endpoint reaches `InService` (`Failed`, `OutOfService` or a timeout fail);
2. its *current* endpoint config is the one Terraform applied, and every production variant's
   model has the promoted model data URL (and image, when given);
3. a smoke request through the `classify_image` state machine (a real PNG uploaded under the
   images prefix) with a per-execution threshold below any stage's (0.01): the endpoint answers,
   then the deployed filter must refuse the lower threshold (outcome `Failed`, error
   `ThresholdBelowDeployed`), so the smoke routes no driver and waits for no reviewer, and its
   message names the deployed threshold, which must be the stage's `effective_decision_threshold`
   (the promoted model's, or the stage's pin). The upload trigger also runs the stage's own
   execution for that image (`incoming/rollout-smoke/...`).

    python -m devkit.verify_rollout --outputs outputs.json --tfvars model.auto.tfvars.json

`outputs.json` is `terraform output -json` of the stage root (its `system` output), the tfvars the
promotion's `model.auto.tfvars.json`. Exit 0 prints one `rollout verified: ...` line; exit 2 one
`rollout failed: <reason>` line (as a GitHub `::error` when GITHUB_ACTIONS is set). The caller
needs sagemaker:Describe{Endpoint,EndpointConfig,Model}, s3:PutObject/DeleteObjectVersion under
the images prefix, states:StartExecution/DescribeExecution and kms:GenerateDataKey/Decrypt on
the stage key. Runbook: monitoring/RUNBOOK.md, "Provider and SageMaker disagree".
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from PIL import Image

from contract.cli import CliParser

# SageMaker's endpoint states (DescribeEndpoint.EndpointStatus).
SETTLED = "InService"
BROKEN = frozenset({"Failed", "OutOfService"})
# Below any stage's threshold (a top probability is >= 0.5): the deployed filter refuses it.
SMOKE_THRESHOLD = 0.01
SMOKE_REFUSAL = "ThresholdBelowDeployed"
_DEPLOYED_THRESHOLD = re.compile(r"below the deployed threshold ([0-9.eE+-]+)")


class RolloutError(RuntimeError):
    """The endpoint does not serve the promoted model, or the workflow does not answer.

    The message is one line: the reason the deploy job prints.
    """


@dataclass(frozen=True)
class Promoted:
    """What the promotion asked for (model.auto.tfvars.json)."""

    model_data_url: str
    model_image_uri: str | None = None

    @classmethod
    def from_tfvars(cls, values: Mapping[str, Any]) -> Promoted:
        url = values.get("model_data_url")
        if not isinstance(url, str) or not url.startswith("s3://"):
            raise RolloutError(f"tfvars have no s3:// model_data_url: {url!r}")
        image = values.get("model_image_uri")
        return cls(url, image if isinstance(image, str) else None)


@dataclass(frozen=True)
class Deployed:
    """What Terraform says it applied (the stage's `system` output)."""

    endpoint_name: str
    endpoint_config_name: str | None = None
    state_machine_arn: str | None = None  # classify_image; None skips the smoke request
    data_bucket: str | None = None
    images_prefix: str = "incoming/"
    decision_threshold: float | None = None  # effective_decision_threshold; None: not compared

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Any]) -> Deployed:
        """From `terraform output -json` (values wrapped in {"value": ...}) or plain values."""
        system = outputs.get("system", outputs)
        if isinstance(system, Mapping) and "value" in system:
            system = system["value"]
        if not isinstance(system, Mapping) or not isinstance(system.get("endpoint_name"), str):
            raise RolloutError("terraform outputs have no system.endpoint_name")
        machines = system.get("state_machine_arns") or {}
        threshold = outputs.get("effective_decision_threshold")
        if isinstance(threshold, Mapping):
            threshold = threshold.get("value")
        return cls(
            endpoint_name=system["endpoint_name"],
            endpoint_config_name=system.get("endpoint_config_name"),
            state_machine_arn=machines.get("classify_image"),
            data_bucket=system.get("data_bucket"),
            decision_threshold=float(threshold) if isinstance(threshold, int | float) else None,
        )


@dataclass(frozen=True)
class Verified:
    endpoint_name: str
    endpoint_config_name: str
    models: tuple[str, ...]
    smoke_outcome: str | None
    waited_s: float

    def summary(self) -> str:
        smoke = f", smoke request {self.smoke_outcome}" if self.smoke_outcome else ""
        return (
            f"rollout verified: {self.endpoint_name} InService on {self.endpoint_config_name} "
            f"(models {', '.join(self.models)}){smoke}, after {self.waited_s:.0f} s"
        )


def wait_in_service(
    sagemaker: Any,
    endpoint_name: str,
    *,
    timeout_s: float,
    poll_s: float = 15.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """DescribeEndpoint until InService; a broken state or the timeout is a RolloutError."""
    deadline = clock() + timeout_s
    while True:
        described: dict[str, Any] = sagemaker.describe_endpoint(EndpointName=endpoint_name)
        status = described["EndpointStatus"]
        if status == SETTLED:
            return described
        if status in BROKEN:
            reason = described.get("FailureReason", "no FailureReason given")
            raise RolloutError(f"endpoint {endpoint_name} is {status}: {reason}")
        if clock() >= deadline:
            raise RolloutError(
                f"endpoint {endpoint_name} still {status} after {timeout_s:.0f} s "
                f"(an update or rollback in progress)"
            )
        sleep(poll_s)


def model_data_url(container: Mapping[str, Any]) -> str | None:
    """The artifact a container definition loads (ModelDataUrl or an S3 ModelDataSource)."""
    if isinstance(container.get("ModelDataUrl"), str):
        return str(container["ModelDataUrl"])
    source = container.get("ModelDataSource", {}).get("S3DataSource", {})
    return source.get("S3Uri") if isinstance(source.get("S3Uri"), str) else None


def check_serves(
    sagemaker: Any, described: Mapping[str, Any], promoted: Promoted, deployed: Deployed
) -> tuple[str, tuple[str, ...]]:
    """The current endpoint config is Terraform's and every variant's model is the promoted one."""
    endpoint = deployed.endpoint_name
    current = described["EndpointConfigName"]
    if deployed.endpoint_config_name and current != deployed.endpoint_config_name:
        raise RolloutError(
            f"endpoint {endpoint} serves endpoint config {current}, but Terraform applied "
            f"{deployed.endpoint_config_name} (update rolled back or never finished)"
        )
    config = sagemaker.describe_endpoint_config(EndpointConfigName=current)
    models: list[str] = []
    for variant in config["ProductionVariants"]:
        name = variant["ModelName"]
        model = sagemaker.describe_model(ModelName=name)
        containers = [model["PrimaryContainer"]] if "PrimaryContainer" in model else []
        containers += model.get("Containers", [])
        urls = {model_data_url(c) for c in containers}
        if urls != {promoted.model_data_url}:
            served = ", ".join(sorted(str(u) for u in urls)) or "no model data"
            raise RolloutError(
                f"endpoint {endpoint} (config {current}, variant {variant['VariantName']}, model "
                f"{name}) serves {served}, not the promoted {promoted.model_data_url}"
            )
        images = {c.get("Image") for c in containers}
        if promoted.model_image_uri and images != {promoted.model_image_uri}:
            raise RolloutError(
                f"endpoint {endpoint} model {name} runs image {', '.join(sorted(map(str, images)))}"
                f", not the promoted {promoted.model_image_uri}"
            )
        models.append(name)
    if not models:
        raise RolloutError(f"endpoint config {current} has no production variant")
    return current, tuple(models)


def smoke_png() -> bytes:
    """A small real PNG (Pillow), as a phone upload would arrive in the images bucket."""
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def smoke_request(
    s3: Any, stepfunctions: Any, deployed: Deployed, *, timeout_s: float, poll_s: float = 1.0
) -> str:
    """Classify one image through the deployed workflow at a threshold below the stage's: the
    execution must end refused by the filter (after the endpoint answered), naming the deployed
    threshold, which must be the stage's."""
    if not deployed.data_bucket or not deployed.state_machine_arn:
        raise RolloutError("no data bucket or classify_image state machine for the smoke request")
    key = f"{deployed.images_prefix}rollout-smoke/{uuid.uuid4().hex}.png"
    put = s3.put_object(
        Bucket=deployed.data_bucket, Key=key, Body=smoke_png(), ContentType="image/png"
    )
    # Deleting the version itself leaves nothing behind in the versioned bucket (no delete marker).
    version = {"VersionId": put["VersionId"]} if put.get("VersionId") else {}
    try:
        started = stepfunctions.start_execution(
            stateMachineArn=deployed.state_machine_arn,
            name=f"rollout-smoke-{uuid.uuid4().hex[:12]}",
            input=json.dumps(
                {"s3_bucket": deployed.data_bucket, "s3_key": key, "threshold": SMOKE_THRESHOLD}
            ),
        )
        deadline = time.monotonic() + timeout_s
        while True:
            execution = stepfunctions.describe_execution(executionArn=started["executionArn"])
            if execution["status"] != "RUNNING":
                break
            if time.monotonic() > deadline:
                raise RolloutError(f"smoke request still RUNNING after {timeout_s:.0f} s")
            time.sleep(poll_s)
    finally:
        s3.delete_object(Bucket=deployed.data_bucket, Key=key, **version)
    if execution["status"] != "SUCCEEDED":
        raise RolloutError(f"smoke request execution {execution['status']}")
    output = json.loads(execution.get("output") or "{}")
    outcome, error = output.get("outcome"), output.get("error")
    if (outcome, error) != ("Failed", SMOKE_REFUSAL):
        detail = output.get("cause") or error or "no error given"
        raise RolloutError(
            f"smoke request ended {outcome} ({error}), not refused by the filter with "
            f"{SMOKE_REFUSAL}: {str(detail)[:300]}"
        )
    found = _DEPLOYED_THRESHOLD.search(str(output.get("cause")))
    deployed_threshold = float(found.group(1)) if found else None
    if (
        deployed.decision_threshold is not None
        and deployed_threshold != deployed.decision_threshold
    ):
        raise RolloutError(
            f"the filter Lambda routes at threshold {deployed_threshold}, the stage's "
            f"effective_decision_threshold is {deployed.decision_threshold}"
        )
    return SMOKE_REFUSAL


def verify(
    clients: Mapping[str, Any],
    promoted: Promoted,
    deployed: Deployed,
    *,
    timeout_s: float = 1800.0,
    poll_s: float = 15.0,
    smoke: bool = True,
) -> Verified:
    """All three checks; `clients` has boto3 clients for sagemaker, s3 and stepfunctions."""
    started = time.monotonic()
    try:
        described = wait_in_service(
            clients["sagemaker"], deployed.endpoint_name, timeout_s=timeout_s, poll_s=poll_s
        )
        waited = time.monotonic() - started
        config, models = check_serves(clients["sagemaker"], described, promoted, deployed)
        outcome = None
        if smoke:
            outcome = smoke_request(
                clients["s3"], clients["stepfunctions"], deployed, timeout_s=min(timeout_s, 300.0)
            )
    except (ClientError, BotoCoreError) as error:
        raise RolloutError(f"AWS call failed: {error}") from error
    return Verified(deployed.endpoint_name, config, models, outcome, waited)


def boto3_clients(session: Any = None, **client_kwargs: Any) -> dict[str, Any]:
    session = session or boto3.session.Session()
    return {
        name: session.client(name, **client_kwargs) for name in ("sagemaker", "s3", "stepfunctions")
    }


def _one_line(text: str) -> str:
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> int:
    parser = CliParser(description="Verify a rollout after terraform apply.")
    parser.add_argument("--outputs", type=Path, required=True, help="terraform output -json")
    parser.add_argument("--tfvars", type=Path, required=True, help="model.auto.tfvars.json")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds to InService")
    parser.add_argument("--poll", type=float, default=15.0, help="seconds between checks")
    parser.add_argument("--no-smoke", action="store_true", help="skip the workflow request")
    args = parser.parse_args(argv)
    try:
        promoted = Promoted.from_tfvars(json.loads(args.tfvars.read_text()))
        deployed = Deployed.from_outputs(json.loads(args.outputs.read_text()))
        verified = verify(
            boto3_clients(),
            promoted,
            deployed,
            timeout_s=args.timeout,
            poll_s=args.poll,
            smoke=not args.no_smoke,
        )
    except (RolloutError, OSError, ValueError) as error:
        reason = _one_line(str(error))
        if os.environ.get("GITHUB_ACTIONS") == "true":
            print(f"::error title=rollout failed::{reason}")
        print(f"rollout failed: {reason}", file=sys.stderr)
        return 2
    print(verified.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())

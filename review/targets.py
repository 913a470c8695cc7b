"""Which review queue to work on: a stage's Terraform outputs, or values given explicitly.

- `dev` / `prod`: `terraform output -json` of terraform/stages/<stage> (initialised with its
  backend, credentials from the environment as for any AWS CLI).
- `local`: the local stage applied to the emulator (`devkit.local_stage`), whose state lives in
  a work directory; needs the emulator's URL and uses its dummy credentials.
- explicit: `--queue-url` (+ `--region`, `--endpoint-url`, `--state-machine-arn`).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import boto3

from devkit import terraform
from devkit.emulator import DEFAULT_REGION, DUMMY_CREDENTIALS
from devkit.local_stage import LocalStage
from review.core import ReviewDesk, ReviewError

REPO_ROOT = Path(__file__).resolve().parents[1]
STAGES = ("dev", "prod", "local")
DEFAULT_LOCAL_WORK_DIR = REPO_ROOT / ".local" / "stage"
_QUEUE_REGION = re.compile(r"^https://sqs[.-]([a-z0-9-]+)\.amazonaws\.com")


class TargetError(ReviewError):
    """The stage's outputs cannot be read, or the target is incomplete."""


@dataclass(frozen=True)
class Target:
    queue_url: str
    region: str | None = None
    endpoint_url: str | None = None
    review_state_machine_arn: str | None = None
    # Extra client settings (the local stage's dummy credentials).
    client_env: tuple[tuple[str, str], ...] = ()

    def desk(self) -> ReviewDesk:
        session_args: dict[str, Any] = {}
        env = dict(self.client_env)
        if env:
            session_args = {
                "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
                "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
                "aws_session_token": env.get("AWS_SESSION_TOKEN"),
            }
        session = boto3.Session(region_name=self.region, **session_args)

        def client(service: str) -> Any:
            return session.client(service, endpoint_url=self.endpoint_url)

        return ReviewDesk(
            sqs=client("sqs"),
            sfn=client("stepfunctions"),
            s3=client("s3"),
            sts=client("sts"),
            queue_url=self.queue_url,
            review_state_machine_arn=self.review_state_machine_arn,
        )


def region_of_queue(queue_url: str) -> str | None:
    """`eu-west-1` from `https://sqs.eu-west-1.amazonaws.com/...` (None for other hosts)."""
    found = _QUEUE_REGION.match(queue_url)
    return found.group(1) if found else None


def from_outputs(outputs: dict[str, Any], **overrides: Any) -> Target:
    """A target from a stage root's outputs (`system.review_queue_url`, the review machine)."""
    system = outputs.get("system")
    if not isinstance(system, dict) or not system.get("review_queue_url"):
        raise TargetError("the stage's outputs have no system.review_queue_url (not applied yet?)")
    queue_url = str(system["review_queue_url"])
    machines = system.get("state_machine_arns") or {}
    values: dict[str, Any] = {
        "queue_url": queue_url,
        "region": region_of_queue(queue_url),
        "review_state_machine_arn": machines.get("review"),
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Target(**values)


def stage_outputs(
    stage: str, endpoint_url: str | None = None, work_dir: Path | None = None
) -> dict[str, Any]:
    """The plain output values of terraform/stages/<stage>."""
    if stage not in STAGES:
        raise TargetError(f"unknown stage {stage!r}: one of {', '.join(STAGES)}")
    env: dict[str, str] = {}
    if stage == "local":
        if not endpoint_url:
            raise TargetError("--stage local needs the emulator's URL (--endpoint-url)")
        # The local stage keeps its state and Terraform data in its work directory.
        env = LocalStage(endpoint_url, (work_dir or DEFAULT_LOCAL_WORK_DIR).resolve()).env()
    return terraform_outputs(REPO_ROOT / "terraform" / "stages" / stage, env)


def terraform_outputs(root: Path, env: dict[str, str]) -> dict[str, Any]:
    try:
        result = terraform.run(
            [f"-chdir={root}", "output", "-json", "-no-color"], env=env, check=False, capture=True
        )
    except terraform.TerraformError as error:
        raise TargetError(str(error)) from error
    if result.returncode != 0:
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        reason = errors[0] if errors else f"exit {result.returncode}"
        raise TargetError(f"cannot read the outputs of {root.name} ({reason})")
    return {key: value["value"] for key, value in json.loads(result.stdout or "{}").items()}


def resolve(
    stage: str | None,
    *,
    queue_url: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    state_machine_arn: str | None = None,
    work_dir: Path | None = None,
) -> Target:
    """The target the command line names: a stage (its outputs, explicit values win) or a URL."""
    endpoint_url = endpoint_url or (
        os.environ.get("AWS_ENDPOINT_URL") if stage == "local" else None
    )
    client_env: tuple[tuple[str, str], ...] = ()
    if stage == "local" and endpoint_url:
        client_env = tuple(DUMMY_CREDENTIALS.items())
        region = region or DEFAULT_REGION
    overrides = {
        "region": region,
        "endpoint_url": endpoint_url,
        "review_state_machine_arn": state_machine_arn,
        "client_env": client_env or None,
    }
    if stage is not None:
        target = from_outputs(stage_outputs(stage, endpoint_url, work_dir), **overrides)
        return target if queue_url is None else replace(target, queue_url=queue_url)
    if not queue_url:
        raise TargetError("name a stage (--stage dev|prod|local) or a queue (--queue-url)")
    return Target(
        queue_url=queue_url,
        region=region or region_of_queue(queue_url),
        endpoint_url=endpoint_url,
        review_state_machine_arn=state_machine_arn,
    )

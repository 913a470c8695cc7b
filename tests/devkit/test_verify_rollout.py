"""Post-apply rollout verification against the emulator: SageMaker serving what was promoted,
and the cases where it does not (the endpoint on another config, another model, a broken or
still-updating endpoint). The smoke request through the deployed workflow is exercised by
tests/terraform/test_local_stage.py, where the workflow exists."""

from __future__ import annotations

import json
import subprocess
import sys

import boto3
import pytest

from devkit.emulator import DEFAULT_REGION, DUMMY_ACCOUNT_ID
from devkit.verify_rollout import (
    Deployed,
    Promoted,
    RolloutError,
    boto3_clients,
    verify,
    wait_in_service,
)

ROLE = f"arn:aws:iam::{DUMMY_ACCOUNT_ID}:role/sagemaker"
IMAGE = f"{DUMMY_ACCOUNT_ID}.dkr.ecr.us-east-1.amazonaws.com/vehicle-classifier:1"
PROMOTED = "s3://artifacts/models/v2/model.tar.gz"
PREVIOUS = "s3://artifacts/models/v1/model.tar.gz"


def _deploy(sagemaker, config: str, model: str, url: str, endpoint: str | None = None) -> None:
    sagemaker.create_model(
        ModelName=model,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": url},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": model,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    if endpoint:
        sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)


def _endpoint_status(name: str, status: str, reason: str | None = None) -> None:
    """Set an emulated endpoint's status (moto's endpoints are InService at once)."""
    from moto.sagemaker.models import sagemaker_backends  # after the emulator

    endpoint = sagemaker_backends[DUMMY_ACCOUNT_ID][DEFAULT_REGION].endpoints[name]
    endpoint.endpoint_status = status
    if reason:
        endpoint.failure_reason = reason


def test_endpoint_serving_the_promoted_model_is_verified(aws):
    sagemaker = boto3.client("sagemaker")
    _deploy(sagemaker, "vc-dev-c2", "vc-dev-m2", PROMOTED, endpoint="vc-dev")
    verified = verify(
        boto3_clients(),
        Promoted(PROMOTED, IMAGE),
        Deployed("vc-dev", endpoint_config_name="vc-dev-c2"),
        smoke=False,
    )
    assert (verified.endpoint_config_name, verified.models) == ("vc-dev-c2", ("vc-dev-m2",))
    assert "rollout verified: vc-dev InService on vc-dev-c2" in verified.summary()


def test_endpoint_left_on_another_config_fails(aws):
    """The provider's state names the new config; SageMaker kept (or rolled back to) the old."""
    sagemaker = boto3.client("sagemaker")
    _deploy(sagemaker, "vc-dev-c1", "vc-dev-m1", PREVIOUS, endpoint="vc-dev")
    _deploy(sagemaker, "vc-dev-c2", "vc-dev-m2", PROMOTED)
    with pytest.raises(RolloutError) as failed:
        verify(
            boto3_clients(),
            Promoted(PROMOTED),
            Deployed("vc-dev", endpoint_config_name="vc-dev-c2"),
            smoke=False,
        )
    assert str(failed.value) == (
        "endpoint vc-dev serves endpoint config vc-dev-c1, but Terraform applied vc-dev-c2 "
        "(update rolled back or never finished)"
    )


def test_config_with_another_model_fails(aws):
    sagemaker = boto3.client("sagemaker")
    _deploy(sagemaker, "vc-dev-c1", "vc-dev-m1", PREVIOUS, endpoint="vc-dev")
    for deployed in (Deployed("vc-dev", endpoint_config_name="vc-dev-c1"), Deployed("vc-dev")):
        with pytest.raises(RolloutError, match=r"serves s3://artifacts/models/v1/model\.tar\.gz"):
            verify(boto3_clients(), Promoted(PROMOTED), deployed, smoke=False)
    with pytest.raises(RolloutError, match=r"runs image .*, not the promoted .*:2$"):
        verify(
            boto3_clients(),
            Promoted(PREVIOUS, IMAGE.replace(":1", ":2")),
            Deployed("vc-dev"),
            smoke=False,
        )


def test_failed_missing_or_unsettled_endpoint_fails(aws):
    sagemaker = boto3.client("sagemaker")
    _deploy(sagemaker, "vc-dev-c2", "vc-dev-m2", PROMOTED, endpoint="vc-dev")
    _endpoint_status("vc-dev", "Failed", "the model container did not pass the ping health check")
    with pytest.raises(RolloutError, match="is Failed: the model container did not pass"):
        verify(boto3_clients(), Promoted(PROMOTED), Deployed("vc-dev"), smoke=False)

    _endpoint_status("vc-dev", "Updating")
    ticks = iter(range(0, 100, 10))
    sleeps: list[float] = []
    with pytest.raises(RolloutError, match="still Updating after 30 s"):
        wait_in_service(
            sagemaker,
            "vc-dev",
            timeout_s=30,
            poll_s=10,
            clock=lambda: float(next(ticks)),
            sleep=sleeps.append,
        )
    assert sleeps == [10, 10]  # checked at 0, 10, 20 s; at 30 s the time is up

    with pytest.raises(RolloutError, match=r"AWS call failed: .*ValidationException"):
        verify(boto3_clients(), Promoted(PROMOTED), Deployed("vc-missing"), smoke=False)


def test_command_exits_2_with_one_line_reason(aws, tmp_path):
    sagemaker = boto3.client("sagemaker")
    _deploy(sagemaker, "vc-dev-c1", "vc-dev-m1", PREVIOUS, endpoint="vc-dev")
    outputs = tmp_path / "outputs.json"
    system = {"endpoint_name": "vc-dev", "endpoint_config_name": "vc-dev-c1"}
    outputs.write_text(json.dumps({"system": {"value": system, "type": "object"}}))
    tfvars = tmp_path / "model.auto.tfvars.json"

    def run(url: str) -> subprocess.CompletedProcess[str]:
        tfvars.write_text(json.dumps({"model_data_url": url, "model_image_uri": IMAGE}))
        return subprocess.run(
            [
                *(sys.executable, "-m", "devkit.verify_rollout", "--outputs", str(outputs)),
                *("--tfvars", str(tfvars), "--no-smoke", "--timeout", "5"),
            ],
            capture_output=True,
            text=True,
            check=False,
            env={**aws.env(), "PATH": "/usr/bin:/bin", "GITHUB_ACTIONS": "true"},
        )

    failed = run(PROMOTED)
    assert failed.returncode == 2, failed.stderr
    assert failed.stderr.count("\n") == 1
    assert failed.stderr.startswith("rollout failed: endpoint vc-dev (config vc-dev-c1")
    assert failed.stdout.startswith("::error title=rollout failed::endpoint vc-dev")

    passed = run(PREVIOUS)
    assert passed.returncode == 0, passed.stderr
    assert passed.stdout.startswith("rollout verified: vc-dev InService on vc-dev-c1")
